# Benchmark: HSTViT, frozen ViT-B/16 (global attention) + the hst-b side network [64,128,256,512].
_base_ = '../_base_/mask-rcnn_fpn_bench.py'
model = dict(
    backbone=dict(_delete_=True, type='HSTViT', arch='b', side_arch='hst-b', init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512]))
