# Mona in every layer of a frozen OpenAI CLIP ViT-B/16 (image tower) on ViTDet's COCO recipe, with
# CLIP's input normalisation.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(
    data_preprocessor=dict(mean=_base_.clip_mean, std=_base_.clip_std),
    backbone=dict(_delete_=True, **_base_.clip_b16, method=dict(type='Mona')),
    neck=_base_.clip_neck)
