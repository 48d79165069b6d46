# VPT-deep (50 prompts per block) on Swin-B 22K, COCO instance segmentation with the Mona paper's
# Cascade Mask R-CNN 3x recipe. Only the prompts of the backbone train (601,600 parameters).
# Change the prompt length with --cfg-options model.backbone.num_prompts=10.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(_delete_=True, type='VPTSwin', **_base_.swin_b, num_prompts=50, deep=True),
    neck=dict(in_channels=[128, 256, 512, 1024]))
