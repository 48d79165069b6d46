# VPT-deep (50 prompts per block) on Swin-L 22K, ADE20K: the Mona recipe (UperNet, 512x512,
# 160k iterations, AdamW 3e-4, wd 0.01, batch 8x2) with the backbone swapped for VPTSwin.
# Only the prompts of the backbone train (902,400 parameters).
_base_ = '../mona/upernet_swin-l-mona_8xb2-160k_ade20k-512x512.py'

custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['prompt'])]

model = dict(
    backbone=dict(
        _delete_=True,
        type='VPTSwin',
        **dict(_base_.swin_l, drop_path_rate=0.2),
        num_prompts=50,
        deep=True))
