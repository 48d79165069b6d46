# Mona on DOTA v1.0 (mmrotate 1.x split, data/split_ss_dota): Oriented R-CNN le90, Swin-B 22K, 1x,
# AdamW 1e-4 / wd 0.05 with the Swin no-decay keys, gradient clipping 35, 500-iteration warm-up.
_base_ = [
    'mmrotate::oriented_rcnn/oriented-rcnn-le90_r50_fpn_1x_dota.py',
    '../_base_/swin_22k.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# verifies that only the adapters train and logs the trainable-parameter table
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['mona'])]

model = dict(
    backbone=dict(_delete_=True, type='MonaSwinTransformer', **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys),
    clip_grad=dict(max_norm=35, norm_type=2))
