# Benchmark: VPTSwin-B, deep prompts, 50 per block; only the prompts train in the backbone.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='VPTSwin', **dict(_base_.swin_b, init_cfg=None), num_prompts=50,
        deep=True),
    neck=dict(in_channels=[128, 256, 512, 1024]))
