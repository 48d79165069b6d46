# HST with the small side network hst-s [32, 64, 128, 256]: 4.0M trainable in the backbone, about
# Mona-Swin-B's 3.7M, for a like-for-like comparison; otherwise as the hst-b config.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/vit_in21k.py']
model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **dict(_base_.hst_vit_b, side_arch='hst-s')),
    neck=dict(in_channels=[32, 64, 128, 256]))
optim_wrapper = dict(
    paramwise_cfg=dict(_delete_=True, norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
