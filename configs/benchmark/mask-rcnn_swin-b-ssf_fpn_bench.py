# Benchmark: SSF on Swin-B (the method's defaults); only the method trains in the backbone.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        **dict(_base_.swin_b, init_cfg=None),
        method=dict(type='SSF')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
