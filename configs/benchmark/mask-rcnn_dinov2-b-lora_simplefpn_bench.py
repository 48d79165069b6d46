# Benchmark: LoRA (rank 64, q and v) in a frozen DINOv2 ViT-B/14, SimpleFPN, Mask R-CNN.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **dict(_base_.dinov2_b, init_cfg=None), method=dict(type='LoRA')),
    neck=dict(_delete_=True, type='SimpleFPN', out_channels=256, num_outs=5, **_base_.dinov2_neck))
