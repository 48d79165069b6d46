# Recipe for DOTA v1.0: rotated RetinaNet (rbox, le90) on the stride 8/16/32 maps (the neck adds
# P6/P7 on its input), 1x, AdamW 1e-4 (wd 0.05, no decay on position tables and norms), gradient
# clipping 35. A method config adds the backbone (out_indices (1, 2, 3)) and the neck's
# in_channels.
_base_ = 'mmrotate::rotated_retinanet/rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# logs the trainable-parameter table and checks that the backbone's freezing never changes
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=None)]

model = dict(neck=dict(start_level=0, add_extra_convs='on_input', num_outs=5))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }),
    clip_grad=dict(max_norm=35, norm_type=2))
