# Mona (mona1 after the attention residual, mona2 after the FFN residual, on the patch map; the
# class and 4 storage tokens pass by) in every block of a frozen DINOv3 ViT-B/16 on ViTDet's COCO
# recipe; ImageNet RGB normalisation.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_b, method=dict(type='Mona')),
    neck=_base_.dinov3_b_neck)
