# Mona paper, COCO instance segmentation: Cascade Mask R-CNN (4conv1fc GIoU heads), Swin-B 22K,
# 3x schedule with the DETR-style multi-scale + crop augmentation, AdamW 1e-4, AMP, batch 16.
_base_ = [
    'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py',
    '../_base_/swin_22k.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# verifies that only the adapters train and logs the trainable-parameter table
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['mona'])]

model = dict(
    backbone=dict(_delete_=True, type='MonaSwinTransformer', **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))

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
    paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))

# 8 GPUs x 2 images; --auto-scale-lr rescales the lr for another total batch size
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
