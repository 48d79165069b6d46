# Benchmark: VPTSwin-B, deep prompts, 50 per block; only the prompts train in the backbone.
_base_ = './mask-rcnn_swin-b-full_fpn_bench.py'
model = dict(backbone=dict(type='VPTSwin', num_prompts=50, deep=True))
