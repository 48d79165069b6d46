# Mona in every block of a frozen DINOv3 ViT-L/16 on the UperNet 160k ADE20K recipe with a
# SimpleFPN, the PEFT lr (3e-4) and with_cp.
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_l, method=dict(type='Mona'), with_cp=True),
    **_base_.dinov3_l_upernet)
optim_wrapper = dict(optimizer=dict(lr=3e-4))
