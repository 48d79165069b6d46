# HST on DOTA v1.0 (mmrotate 1.x split): a frozen IN-21k ViT-B/16 with hst-b on the Oriented R-CNN
# le90 recipe; no weight decay on 1-D parameters and biases, as the official optimiser.
_base_ = ['../_base_/oriented-rcnn-le90_fpn_1x_dota.py', '../_base_/vit_in21k.py']
model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **_base_.hst_vit_b),
    neck=dict(in_channels=[64, 128, 256, 512]))
optim_wrapper = dict(
    paramwise_cfg=dict(_delete_=True, norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
