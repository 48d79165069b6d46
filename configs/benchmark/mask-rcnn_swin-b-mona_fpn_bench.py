# Benchmark: Mona-Swin-B (fused Mona, default), only the adapters train in the backbone.
_base_ = './mask-rcnn_swin-b-full_fpn_bench.py'
model = dict(backbone=dict(type='MonaSwinTransformer', mona_cfg=dict(fused=True, with_cp=False)))
