# Convpass in every layer of a frozen DINOv2 ViT-B/14 on the UperNet 160k ADE20K recipe, with a
# SimpleFPN (strides 4-32 from the stride-14 map) and the PEFT lr of the Mona config (3e-4).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.dinov2_b, method=dict(type='Convpass')),
    **_base_.dinov2_upernet)
optim_wrapper = dict(optimizer=dict(lr=3e-4))
