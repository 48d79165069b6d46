# SSF (scale and shift after every frozen operation: patch embedding, norm1, qkv, proj, norm2, fc1,
# fc2) in a frozen DINOv2 ViT-B/14 on ViTDet's COCO recipe.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.dinov2_b, method=dict(type='SSF')),
    neck=_base_.dinov2_neck)
