# Benchmark: Mona-Swin-B with the literal (unfused) Mona, for comparison with the fused one.
_base_ = './mask-rcnn_swin-b-full_fpn_bench.py'
model = dict(backbone=dict(type='MonaSwinTransformer', mona_cfg=dict(fused=False, with_cp=False)))
