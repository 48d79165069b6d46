# Benchmark (tools/analysis/benchmark_peft.py): Mask R-CNN, plain Swin-B, full fine-tuning.
# Random init (init_cfg=None): the benchmark measures cost, not accuracy.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    '../_base_/swin_22k.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True, type='PlainSwinTransformer', **dict(_base_.swin_b, init_cfg=None)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
