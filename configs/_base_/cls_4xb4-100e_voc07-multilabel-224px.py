# The classification recipe on PASCAL VOC2007 with the standard multi-label protocol (not the
# paper's): every class present in an image is a target (sigmoid cross-entropy, mmpretrain's
# MultiLabelLinearClsHead), trained on trainval (5,011 images), evaluated on test (4,952) by VOC
# mAP (difficult objects ignored) and precision/recall/F1. mmpretrain's VOC layout under
# data_root: JPEGImages/, Annotations/, ImageSets/Main/{trainval,test}.txt.
_base_ = './cls_4xb4-100e-224px.py'
data_root = 'data/VOCdevkit/VOC2007/'
model = dict(
    data_preprocessor=dict(num_classes=20, to_onehot=True),
    head=dict(
        _delete_=True,
        type='MultiLabelLinearClsHead',
        num_classes=20,
        in_channels=1536,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    # the VOC metric needs the difficult flags
    dict(type='PackInputs',
         meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                    'flip_direction', 'gt_label_difficult')),
]
train_dataloader = dict(dataset=dict(type='VOC', data_root=data_root, split='trainval'))
val_dataloader = dict(
    dataset=dict(type='VOC', data_root=data_root, split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='VOCMultiLabelMetric'),
    dict(type='VOCMultiLabelMetric', average='micro'),
    dict(type='VOCAveragePrecision'),
]
test_evaluator = val_evaluator
