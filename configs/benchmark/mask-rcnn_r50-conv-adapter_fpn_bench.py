# Benchmark: Conv-Adapter in a frozen ResNet-50 (the method's defaults); only the adapters train in
# the backbone.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/resnet_in1k.py']
model = dict(
    backbone=dict(
        _delete_=True, **dict(_base_.peft_r50, init_cfg=None), method=dict(type='ConvAdapter')),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
