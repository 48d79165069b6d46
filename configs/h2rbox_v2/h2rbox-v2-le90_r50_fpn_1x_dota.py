# Control: mmrotate 1.x's own H2RBox-v2 R50 DOTA recipe (configs/h2rbox_v2/
# h2rbox_v2-le90_r50_fpn-1x_dota.py: 72.59 mAP in its README), on the recipe of the Mona
# configs: both views every step (batch x 3), bilinear rotation with reflection padding, centre
# crop 1024 (a no-op on 1024 patches), symmetry loss rotation 1.0 + flip 0.05, rotation-agnostic
# classes fixed before NMS, ImageNet R50 (frozen stem and stage 1, BN frozen), FPN from C3.
_base_ = ['../_base_/h2rbox-v2-le90_fpn_1x_dota.py']
model = dict(
    crop_size=(1024, 1024),
    prob_rot=None,
    interpolation='bilinear',
    padding='reflection',
    rotate_grid='normalized',
    backbone=dict(out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=[256, 512, 1024, 2048], start_level=1),
    bbox_head=dict(
        agnostic_after_nms=False,
        loss_symmetry_ss=dict(loss_rot=dict(loss_weight=1.0), loss_flp=dict(loss_weight=0.05))))
