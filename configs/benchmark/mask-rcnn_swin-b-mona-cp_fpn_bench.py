# Benchmark: Mona-Swin-B, fused Mona with the adapter internals recomputed in backward.
_base_ = './mask-rcnn_swin-b-full_fpn_bench.py'
model = dict(backbone=dict(type='MonaSwinTransformer', mona_cfg=dict(fused=True, with_cp=True)))
