# Mona paper baseline "partial-1": the plain Swin-B with only its last block trained; neck and
# heads train fully. DOTA v1.0 with the Oriented R-CNN le90 recipe.
_base_ = ['../_base_/oriented-rcnn-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['stages.3.blocks.1'],
        **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
