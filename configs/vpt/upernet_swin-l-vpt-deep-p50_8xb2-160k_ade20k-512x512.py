# VPT-deep (50 prompts per block) on Swin-L 22K, ADE20K with the UperNet 160k recipe and Mona's
# PEFT settings (drop-path 0.2, AdamW 3e-4, the 'backbone' key). Only the prompts of the backbone
# train (902,400 parameters).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='VPTSwin',
        **dict(_base_.swin_l, drop_path_rate=0.2),
        num_prompts=50,
        deep=True),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
optim_wrapper = dict(
    optimizer=dict(lr=3e-4), paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=1.0))))
