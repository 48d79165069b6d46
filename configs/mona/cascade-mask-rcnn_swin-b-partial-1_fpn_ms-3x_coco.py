# Mona paper baseline "partial-1": the plain Swin-B with only its last block trained (pattern
# 'stages.3.blocks.1'); neck and heads train fully. COCO recipe.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['stages.3.blocks.1'],
        **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
