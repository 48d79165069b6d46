# Full fine-tuning of DINOv3 ViT-B/16 (every parameter trains; the masked k rows of the q/k/v bias
# stay zero) on ViTDet's COCO recipe, without its layer-wise lr decay (see configs/README.md).
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_b, trainable=None),
    neck=_base_.dinov3_b_neck)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.dinov3_no_decay))
