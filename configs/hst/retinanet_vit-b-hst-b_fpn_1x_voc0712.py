# HST on Pascal VOC 07+12: the Mona VOC recipe (RetinaNet on the stride 8/16/32 maps, AdamW 1e-4,
# VOC0712 x3 for 4 epochs, VOC07 11-point mAP) on a frozen IN-21k ViT-B/16 with hst-b.
_base_ = [
    '../mona/retinanet_swin-l-mona_fpn_1x_voc0712.py',
    '../_base_/vit_in21k.py',
]

custom_hooks = [
    dict(type='FreezeBackboneHook', module='backbone', trainable=_base_.hst_trainable)
]

model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **dict(_base_.hst_vit_b, out_indices=(1, 2, 3))),
    neck=dict(in_channels=_base_.hst_dims['hst-b'][1:]))

optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, norm_decay_mult=0.0))
