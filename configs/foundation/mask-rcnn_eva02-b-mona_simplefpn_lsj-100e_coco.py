# Mona (mona1 after the attention residual, mona2 after the FFN residual, on the patch map; the
# class token passes by) in every layer of a frozen EVA-02-B/14 (rotary positions, SwiGLU) on
# ViTDet's COCO recipe, with EVA-02's (CLIP's) input normalisation.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(
    data_preprocessor=dict(mean=_base_.clip_mean, std=_base_.clip_std),
    backbone=dict(_delete_=True, **_base_.eva02_b, method=dict(type='Mona')),
    neck=_base_.eva02_neck)
