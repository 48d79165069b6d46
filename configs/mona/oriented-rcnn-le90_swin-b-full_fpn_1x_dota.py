# Mona paper baseline "full" on DOTA: the plain Swin-B, every parameter trained.
_base_ = ['../_base_/oriented-rcnn-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(_delete_=True, type='PlainSwinTransformer', **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
