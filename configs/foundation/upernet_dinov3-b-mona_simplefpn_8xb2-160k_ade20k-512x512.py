# Mona in every block of a frozen DINOv3 ViT-B/16 on the UperNet 160k ADE20K recipe, with a
# SimpleFPN (strides 4-32 from the stride-16 map) and the PEFT lr of the Mona config (3e-4).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_b, method=dict(type='Mona')),
    **_base_.dinov3_b_upernet)
optim_wrapper = dict(optimizer=dict(lr=3e-4))
