# LoRA (rank 64, alpha 1, on q and v of every attention) in a frozen DINOv3 ViT-B/16 on ViTDet's
# COCO recipe.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_b, method=dict(type='LoRA')),
    neck=_base_.dinov3_b_neck)
