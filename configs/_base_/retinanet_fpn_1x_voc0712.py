# Recipe of the Mona paper, Pascal VOC 07+12: RetinaNet on the stride 8/16/32 maps (the neck adds
# P6/P7 on its input), AdamW 1e-4 (wd 0.05, no decay on position tables and norms), VOC0712
# repeated 3x for 4 epochs (= 12 epochs), one lr step after epoch 3, no warm-up, VOC07 11-point
# mAP on VOC2007 test; the official run had 2 GPUs x 1 image. A method config adds the backbone
# (out_indices (1, 2, 3)) and the neck's in_channels.
_base_ = 'mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py'
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
        }))

train_dataloader = dict(batch_size=1)
auto_scale_lr = dict(enable=False, base_batch_size=2)
