# The frozen floor: DINOv2 ViT-B/14 frozen whole, the SimpleFPN and the heads train (AdamW 6e-5).
# UperNet 160k ADE20K recipe.
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.dinov2_b),
    **_base_.dinov2_upernet)
