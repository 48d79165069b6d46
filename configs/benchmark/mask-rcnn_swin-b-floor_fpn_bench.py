# Benchmark "frozen-backbone floor": the Swin-B backbone is frozen entirely (trainable=[]), the
# neck and heads train, and the benchmark makes the input image require grad so that backward
# still runs through the whole backbone (input gradients, no weight gradients): the least any
# adapter method that trains something inside the backbone's first stage can cost.
_base_ = ['../_base_/mask-rcnn_fpn_bench.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=[],
        **dict(_base_.swin_b, init_cfg=None)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
benchmark = dict(input_grad=True)
