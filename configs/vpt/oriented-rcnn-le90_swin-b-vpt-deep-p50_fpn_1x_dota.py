# VPT-deep (50 prompts per block) on Swin-B 22K, DOTA v1.0 with the Oriented R-CNN le90 recipe.
# Only the prompts of the backbone train (601,600 parameters).
_base_ = ['../_base_/oriented-rcnn-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(_delete_=True, type='VPTSwin', **_base_.swin_b, num_prompts=50, deep=True),
    neck=dict(in_channels=[128, 256, 512, 1024]))
