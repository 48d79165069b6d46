# The frozen floor: DINOv3 ViT-B/16 frozen whole, the SimpleFPN and the heads train. ViTDet's COCO
# recipe.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_b),
    neck=_base_.dinov3_b_neck)
