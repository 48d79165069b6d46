# Benchmark (tools/analysis/benchmark_peft.py): Mask R-CNN, plain Swin-B, full fine-tuning.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='PlainSwinTransformer', **dict(_base_.swin_b, init_cfg=None)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
