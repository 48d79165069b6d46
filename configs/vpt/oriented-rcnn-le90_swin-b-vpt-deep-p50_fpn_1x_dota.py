# VPT-deep (50 prompts per block) on Swin-B 22K, DOTA v1.0: the Mona recipe (Oriented R-CNN le90,
# 1x, AdamW 1e-4, wd 0.05, gradient clipping 35) with the backbone swapped for VPTSwin.
# Only the prompts of the backbone train (601,600 parameters).
_base_ = '../mona/oriented-rcnn-le90_swin-b-mona_fpn_1x_dota.py'

custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['prompt'])]

model = dict(
    backbone=dict(_delete_=True, type='VPTSwin', **_base_.swin_b, num_prompts=50, deep=True))
