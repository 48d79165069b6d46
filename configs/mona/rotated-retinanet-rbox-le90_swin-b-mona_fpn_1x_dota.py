# Mona on Swin-B 22K (outputs at strides 8/16/32), DOTA v1.0 with the rotated RetinaNet recipe.
_base_ = ['../_base_/rotated-retinanet-rbox-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='MonaSwinTransformer', **dict(_base_.swin_b, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[256, 512, 1024]))
