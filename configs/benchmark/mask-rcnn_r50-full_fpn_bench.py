# Benchmark: mmdet's ResNet-50, full fine-tuning (every stage trains; BatchNorm frozen in eval mode
# as in mmdet's detectors): the anchor of the Conv-Adapter row.
_base_ = '../_base_/mask-rcnn_fpn_bench.py'
model = dict(
    backbone=dict(
        _delete_=True, type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
        frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True,
        style='pytorch', init_cfg=None),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
