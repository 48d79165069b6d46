# ViTDet's COCO recipe for plain ViTs (Li et al., ECCV 2022; detectron2's configs, mirrored by
# mmdet 3.3's projects/ViTDet): Mask R-CNN on the simple feature pyramid (SimpleFPN, strides 4-64
# from the ViT's one map), RPN with 2 convs, 4conv1fc box head and 4-conv mask head with
# LayerNorm; large-scale jitter at 1024 (scale 0.1-2.0, crop, fixed-size pad); 100 epochs
# (25 x RepeatDataset 4, steps at 88% and 96% as ViTDet's 163,889 / 177,546 of 184,375 iterations);
# AdamW 1e-4, wd 0.1 with no decay on norms, position tables and extra tokens; 250-iteration
# warm-up; AMP; batch 64 (16 GPUs x 4). A method config adds the backbone and the neck's
# in_channels / in_stride.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', 'mmdet::common/lsj-100e_coco-instance.py']
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# logs the trainable-parameter table and checks that the backbone's freezing never changes
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=None)]

norm_cfg = dict(type='LayerNorm2d')
model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=_base_.image_size, pad_mask=True)]),
    neck=dict(_delete_=True, type='SimpleFPN', in_channels=[768], out_channels=256, num_outs=5),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'register_tokens': dict(decay_mult=0.),
            'rel_pos_': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', begin=0, end=25, by_epoch=True, milestones=[22, 24], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
