# Mona paper, Pascal VOC 07+12: RetinaNet, Swin-L 22K with out_indices (1, 2, 3), AdamW 1e-4,
# VOC0712 repeated 3x for 4 epochs (= 12 epochs), one lr step after epoch 3, no warm-up,
# VOC07 11-point mAP on VOC2007 test.
_base_ = [
    'mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py',
    '../_base_/swin_22k.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# verifies that only the adapters train and logs the trainable-parameter table
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['mona'])]

model = dict(
    backbone=dict(
        _delete_=True,
        type='MonaSwinTransformer',
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[384, 768, 1536], start_level=0, add_extra_convs='on_input',
              num_outs=5))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))

# the official run used 2 GPUs x 1 image
train_dataloader = dict(batch_size=1)
auto_scale_lr = dict(enable=False, base_batch_size=2)
