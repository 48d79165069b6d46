# Benchmark: full fine-tuning of DINOv3 ViT-B/16 (every parameter trains), SimpleFPN, Mask R-CNN.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/dinov3_vits.py']
model = dict(
    backbone=dict(_delete_=True, **dict(_base_.dinov3_b, init_cfg=None), trainable=None),
    neck=dict(
        _delete_=True, type='SimpleFPN', out_channels=256, num_outs=5, **_base_.dinov3_b_neck))
