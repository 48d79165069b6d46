# Recipe of the Mona paper, COCO instance segmentation: Cascade Mask R-CNN (4conv1fc GIoU heads),
# 3x schedule with the DETR-style multi-scale + crop augmentation, AdamW 1e-4 (wd 0.05, no decay on
# position tables and norms), AMP, batch 8x2. A method config adds the backbone and the neck's
# in_channels.
_base_ = ('mmdet::convnext/'
          'cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py')
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# logs the trainable-parameter table and checks that the backbone's freezing never changes
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=None)]

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))

# 8 GPUs x 2 images; --auto-scale-lr rescales the lr for another total batch size
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
