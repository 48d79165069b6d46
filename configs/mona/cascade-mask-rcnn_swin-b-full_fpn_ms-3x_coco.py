# Mona paper baseline "full": the plain Swin-B, every parameter trained, on the COCO recipe.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(_delete_=True, type='PlainSwinTransformer', **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
