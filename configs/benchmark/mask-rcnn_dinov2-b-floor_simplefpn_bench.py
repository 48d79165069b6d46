# Benchmark "frozen-backbone floor": DINOv2 ViT-B/14 frozen whole, the SimpleFPN and heads train,
# and the input requires grad so that backward still runs through every layer (input gradients
# only): the least a method that trains something in the first layer can cost.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **dict(_base_.dinov2_b, init_cfg=None)),
    neck=dict(_delete_=True, type='SimpleFPN', out_channels=256, num_outs=5, **_base_.dinov2_neck))
benchmark = dict(input_grad=True)
