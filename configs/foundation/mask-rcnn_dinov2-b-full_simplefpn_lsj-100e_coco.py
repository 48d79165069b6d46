# Full fine-tuning of DINOv2 ViT-B/14 (every parameter trains) on ViTDet's COCO recipe (without
# its layer-wise lr decay, see configs/README.md).
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.dinov2_b, trainable=None),
    neck=_base_.dinov2_neck)
