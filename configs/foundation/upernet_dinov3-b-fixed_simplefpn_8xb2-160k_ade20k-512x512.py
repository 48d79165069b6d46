# The frozen floor: DINOv3 ViT-B/16 frozen whole, the SimpleFPN and the heads train (AdamW 6e-5).
# UperNet 160k ADE20K recipe.
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_b),
    **_base_.dinov3_b_upernet)
