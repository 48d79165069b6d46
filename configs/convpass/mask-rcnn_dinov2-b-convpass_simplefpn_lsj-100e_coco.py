# Convpass (adapter_attn beside the attention, adapter_mlp beside the FFN, fed the normed tokens;
# the class token goes through as a 1x1 map, as in the official ViT code) in every layer of a
# frozen DINOv2 ViT-B/14 on ViTDet's COCO recipe.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.dinov2_b, method=dict(type='Convpass')),
    neck=_base_.dinov2_neck)
