# Benchmark: Mona-Swin-B (fused Mona, default), only the adapters train in the backbone.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='MonaSwinTransformer',
        **dict(_base_.swin_b, init_cfg=None),
        mona_cfg=dict(fused=True, with_cp=False)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
