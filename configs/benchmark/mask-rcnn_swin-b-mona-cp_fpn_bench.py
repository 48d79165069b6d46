# Benchmark: Mona-Swin-B, fused Mona with the adapter internals recomputed in backward.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='MonaSwinTransformer',
        **dict(_base_.swin_b, init_cfg=None),
        mona_cfg=dict(fused=True, with_cp=True)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
