# Mona (mona1 after the attention residual, mona2 after the FFN residual, on the patch map;
# the class token passes by) in every layer of a frozen DINOv2 ViT-B/14 on ViTDet's COCO recipe.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.dinov2_b, method=dict(type='Mona')),
    neck=_base_.dinov2_neck)
