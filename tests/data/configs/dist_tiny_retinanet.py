# Tiny RetinaNet + tiny Swin for CPU DDP tests of FreezeBackboneHook (tests/test_dist_freeze.py).
# The test inherits it, setting data_root (a mmpeft.testing.synthetic.make_coco set), the
# classes, the backbone and custom_hooks.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', 'mmdet::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmpeft', 'rank_check_hook'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True, type='SwinTransformer', embed_dims=16, depths=(1, 1, 1, 2),
        num_heads=(1, 1, 1, 1), window_size=7, out_indices=(1, 2, 3), drop_path_rate=0.1),
    neck=dict(in_channels=[32, 64, 128], out_channels=32, start_level=0, num_outs=5),
    bbox_head=dict(num_classes=2, in_channels=32, feat_channels=32, stacked_convs=1))

data_root = 'data/synthetic/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='PackDetInputs')
]
train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
        pipeline=train_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

train_cfg = dict(type='IterBasedTrainLoop', max_iters=3)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = []
find_unused_parameters = False
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=3),
    visualization=dict(type='DetVisualizationHook', draw=False))
log_processor = dict(by_epoch=False)
custom_hooks = [
    dict(type='FreezeBackboneHook', module='backbone', trainable=['bias']),
    dict(type='RankConsistencyHook')
]
