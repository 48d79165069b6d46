# Mona in every block of a frozen DINOv3 ViT-L/16 on ViTDet's COCO recipe, blocks recomputed in
# backward (with_cp) to fit the 1024 px LSJ batches.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_l, method=dict(type='Mona'), with_cp=True),
    neck=_base_.dinov3_l_neck)
