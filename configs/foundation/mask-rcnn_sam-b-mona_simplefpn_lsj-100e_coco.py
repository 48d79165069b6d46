# Mona in every layer of SAM's frozen ViT-B image encoder (window attention, global attention in
# layers 2, 5, 8, 11) on ViTDet's COCO recipe: 1024 px inputs are SAM's own 64x64 grid.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.sam_b, method=dict(type='Mona')),
    neck=_base_.sam_neck)
