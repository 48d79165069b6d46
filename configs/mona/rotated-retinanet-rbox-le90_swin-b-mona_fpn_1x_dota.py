# Mona on DOTA v1.0: rotated RetinaNet (rbox, le90), Swin-B 22K with out_indices (1, 2, 3),
# AdamW 1e-4 / wd 0.05 with the Swin no-decay keys, gradient clipping 35.
_base_ = [
    'mmrotate::rotated_retinanet/rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py',
    '../_base_/swin_22k.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# verifies that only the adapters train and logs the trainable-parameter table
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['mona'])]

model = dict(
    backbone=dict(
        _delete_=True, type='MonaSwinTransformer', **dict(_base_.swin_b, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[256, 512, 1024], start_level=0, add_extra_convs='on_input',
              num_outs=5))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys),
    clip_grad=dict(max_norm=35, norm_type=2))
