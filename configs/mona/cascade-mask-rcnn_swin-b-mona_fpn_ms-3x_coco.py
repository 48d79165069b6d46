# Mona (two adapters per block, only they train in the backbone) on Swin-B 22K, COCO instance
# segmentation with the paper's Cascade Mask R-CNN 3x recipe.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(_delete_=True, type='MonaSwinTransformer', **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
