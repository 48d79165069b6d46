# Recipe for DOTA v1.0 (mmrotate 1.x ss split, data/split_ss_dota) as the Mona paper ran it:
# STAR-MMRotate's H2RBox-v2 "v2p" configs (configs/h2rbox_v2p/peft/*_dota_le90.py). The detector
# trains from the horizontal boxes of DOTA's rotated annotations (converted in the train pipeline)
# and is evaluated on rotated boxes. v2p: one extra view per step (rotated by 45-135 degrees with
# probability 0.95 as torchvision's rotate: nearest-neighbour in pixel units, zero fill; otherwise
# flipped), one symmetry loss of weight 0.2, rotation-agnostic classes fixed after NMS. AdamW 5e-5
# (wd 0.05, no paramwise settings), gradient clipping 35, 12 epochs (steps at 8, 11), 500-iteration
# warm-up from 1/3, batch 2, 1024 patches, h/v/diagonal flips (0.25 each), validation every 6
# epochs. A method config adds the backbone (out_indices (1, 2, 3): FPN from stride 8, P6/P7 on its
# output) and the neck's in_channels.
_base_ = [
    'mmrotate::_base_/datasets/dota.py', 'mmrotate::_base_/schedules/schedule_1x.py',
    'mmrotate::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# logs the trainable-parameter table and checks that the backbone's freezing never changes
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=None)]

angle_version = 'le90'
model = dict(
    type='H2RBoxV2Detector',
    crop_size=None,
    view_range=(0.25, 0.75),
    prob_rot=0.95,
    interpolation='nearest',
    padding='zeros',
    rotate_grid='pixel',
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        boxtype2tensor=False),
    backbone=dict(
        type='mmdet.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='mmdet.FPN',
        in_channels=[512, 1024, 2048],
        out_channels=256,
        start_level=0,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='H2RBoxV2Head',
        num_classes=15,
        in_channels=256,
        angle_version=angle_version,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        center_sampling=True,
        center_sample_radius=1.5,
        norm_on_bbox=True,
        centerness_on_reg=True,
        use_hbbox_loss=False,
        scale_angle=False,
        # baseball-diamond, storage-tank, roundabout; baseball-diamond shrunk by 0.85 at test
        rotation_agnostic_classes=[1, 9, 11],
        agnostic_resize_classes=[1],
        agnostic_after_nms=True,
        use_circumiou_loss=True,
        use_standalone_angle=True,
        use_reweighted_loss_bbox=False,
        angle_coder=dict(
            type='PSCCoder', angle_version=angle_version, dual_freq=False, num_step=3,
            thr_mod=0),
        bbox_coder=dict(type='DistanceAnglePointCoder', angle_version=angle_version),
        loss_cls=dict(
            type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='mmdet.IoULoss', loss_weight=1.0),
        loss_centerness=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_symmetry_ss=dict(
            type='H2RBoxV2ConsistencyLoss',
            use_snap_loss=True,
            loss_rot=dict(type='mmdet.SmoothL1Loss', loss_weight=0.2, beta=0.1),
            loss_flp=dict(type='mmdet.SmoothL1Loss', loss_weight=0.2, beta=0.1))),
    train_cfg=None,
    test_cfg=dict(
        nms_pre=2000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms_rotated', iou_threshold=0.1),
        max_per_img=2000))

# horizontal boxes: DOTA's quadrilaterals -> their (x1, y1, x2, y2) -> (x, y, w, h, 0)
train_pipeline = [
    dict(type='mmdet.LoadImageFromFile', file_client_args=_base_.file_client_args),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='hbox')),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.Resize', scale=(1024, 1024), keep_ratio=True),
    dict(
        type='mmdet.RandomFlip',
        prob=0.75,
        direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='mmdet.PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=0.05))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=6)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
