# HST on COCO instance segmentation: the Mona COCO recipe (Cascade Mask R-CNN 4conv1fc GIoU heads,
# 3x with DETR-style multi-scale + crop, AdamW 1e-4, AMP, 8x2 images) on a frozen IN-21k ViT-B/16
# with the hst-b side network (14.9M trainable in the backbone). The paper's dense recipe is not
# published (configs/README.md, deviations).
_base_ = [
    '../mona/cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py',
    '../_base_/vit_in21k.py',
]

custom_hooks = [
    dict(type='FreezeBackboneHook', module='backbone', trainable=_base_.hst_trainable)
]

model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **_base_.hst_vit_b),
    neck=dict(in_channels=_base_.hst_dims['hst-b']))

# no weight decay on norms (LayerNorms of the ViT and the side network, the stem BN)
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, norm_decay_mult=0.0))
