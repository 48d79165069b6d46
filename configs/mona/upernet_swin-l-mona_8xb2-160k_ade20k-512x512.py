# Mona on Swin-L 22K, ADE20K: the paper's UperNet 160k recipe with Mona's own settings, drop-path
# 0.2 and AdamW 3e-4 (5x the baselines' lr). As in the official run, the 'backbone' key (longest
# match first) shadows 'norm' for backbone parameters, so every adapter parameter gets wd 0.01.
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='MonaSwinTransformer', **dict(_base_.swin_l, drop_path_rate=0.2)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
optim_wrapper = dict(
    optimizer=dict(lr=3e-4), paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=1.0))))
