# The frozen floor: DINOv2 ViT-B/14 frozen whole, the SimpleFPN and the heads train. ViTDet's COCO
# recipe.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(backbone=dict(_delete_=True, **_base_.dinov2_b), neck=_base_.dinov2_neck)
