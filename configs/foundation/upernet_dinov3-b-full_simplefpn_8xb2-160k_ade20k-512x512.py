# Full fine-tuning of DINOv3 ViT-B/16 on the UperNet 160k ADE20K recipe (AdamW 6e-5) with a
# SimpleFPN; no weight decay on norms, the class and the storage tokens.
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_b, trainable=None),
    **_base_.dinov3_b_upernet)
optim_wrapper = dict(
    paramwise_cfg=dict(norm_decay_mult=0., custom_keys=_base_.dinov3_no_decay))
