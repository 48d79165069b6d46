# Recipe of the Mona paper, image classification (official mmcls 0.x configs, rewritten for
# mmpretrain 1.x): ImageClassifier = Swin-L 22K (one output, stride 32) -> global average pooling
# -> linear head, cross-entropy; RandomResizedCrop 224 + flip / resize 256 + centre crop 224;
# AdamW lr 5e-4 x 16 / 512, wd 0.05 (none on norms, biases and Swin position tables), grad-norm
# clip 5, fp16 with a dynamic loss scale; 100 epochs, cosine per iteration to 1% of the lr with a
# 20-epoch linear warm-up from 1e-3; 4 GPUs x 4 images. A dataset recipe adds the data and the
# classes; a method config adds the backbone (and Mona's lr on Flowers102 / Pets).
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# logs the trainable-parameter table and checks that the backbone's freezing never changes
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=None)]

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=None,  # the dataset recipe's
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=None,  # the method config's Swin-L, out_indices=(3, )
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=None,  # the dataset recipe's
        in_channels=1536,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='cv2'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

base_lr = 5e-4 * 16 / 512  # = 1.5625e-5, the official linear scaling for 4 x 4 images
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.absolute_pos_embed': dict(decay_mult=0.0),
            '.relative_position_bias_table': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=5.0))

max_epochs = 100
warmup_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16)

# the official runs kept only the final checkpoint; here every epoch's replaces the last one
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
