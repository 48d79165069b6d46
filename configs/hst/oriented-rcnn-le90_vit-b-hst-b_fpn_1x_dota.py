# HST on DOTA v1.0 (mmrotate 1.x split): the Mona DOTA recipe (Oriented R-CNN le90, 1x, AdamW 1e-4,
# wd 0.05, gradient clipping 35) on a frozen IN-21k ViT-B/16 with hst-b.
_base_ = [
    '../mona/oriented-rcnn-le90_swin-b-mona_fpn_1x_dota.py',
    '../_base_/vit_in21k.py',
]

custom_hooks = [
    dict(type='FreezeBackboneHook', module='backbone', trainable=_base_.hst_trainable)
]

model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **_base_.hst_vit_b),
    neck=dict(in_channels=_base_.hst_dims['hst-b']))

optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, norm_decay_mult=0.0))
