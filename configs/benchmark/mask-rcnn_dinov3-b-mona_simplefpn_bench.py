# Benchmark: Mona in every block of a frozen DINOv3 ViT-B/16, SimpleFPN, Mask R-CNN.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/dinov3_vits.py']
model = dict(
    backbone=dict(_delete_=True, **dict(_base_.dinov3_b, init_cfg=None), method=dict(type='Mona')),
    neck=dict(
        _delete_=True, type='SimpleFPN', out_channels=256, num_outs=5, **_base_.dinov3_b_neck))
