# Conv-Adapter in a frozen ImageNet ResNet-50 on the recipe of the H2RBox-v2 R50 control
# (configs/h2rbox_v2/h2rbox-v2-le90_r50_fpn_1x_dota.py: both views every step, bilinear rotation
# with reflection padding, symmetry loss rotation 1.0 + flip 0.05, FPN from C3); only the
# adapters train in the backbone (the control trains stages 2-4 with frozen BatchNorm).
_base_ = ['../_base_/h2rbox-v2-le90_fpn_1x_dota.py', '../_base_/resnet_in1k.py']
model = dict(
    crop_size=(1024, 1024),
    prob_rot=None,
    interpolation='bilinear',
    padding='reflection',
    backbone=dict(_delete_=True, **_base_.peft_r50, method=dict(type='ConvAdapter')),
    neck=dict(in_channels=[256, 512, 1024, 2048], start_level=1),
    bbox_head=dict(
        agnostic_after_nms=False,
        loss_symmetry_ss=dict(loss_rot=dict(loss_weight=1.0), loss_flp=dict(loss_weight=0.05))))
