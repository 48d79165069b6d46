# FacT-TT (rank 8, scale 1; U/V shared per stage, 12 r^2 per block) in a frozen DINOv2 ViT-B/14 on
# ViTDet's COCO recipe.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.dinov2_b, method=dict(type='FacT', mode='tt')),
    neck=_base_.dinov2_neck)
