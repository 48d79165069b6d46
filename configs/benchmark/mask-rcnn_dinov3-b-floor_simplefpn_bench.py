# Benchmark "frozen-backbone floor": DINOv3 ViT-B/16 frozen whole, the SimpleFPN and heads train,
# and the input requires grad so that backward still runs through every block (input gradients
# only): the least a method that trains something in the first block can cost.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/dinov3_vits.py']
model = dict(
    backbone=dict(_delete_=True, **dict(_base_.dinov3_b, init_cfg=None)),
    neck=dict(
        _delete_=True, type='SimpleFPN', out_channels=256, num_outs=5, **_base_.dinov3_b_neck))
benchmark = dict(input_grad=True)
