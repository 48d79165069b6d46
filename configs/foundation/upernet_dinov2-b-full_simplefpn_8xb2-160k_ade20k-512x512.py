# Full fine-tuning of DINOv2 ViT-B/14 on the UperNet 160k ADE20K recipe (AdamW 6e-5) with a
# SimpleFPN; no weight decay on norms, the position table and the class token.
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/foundation_vits.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.dinov2_b, trainable=None),
    **_base_.dinov2_upernet)
optim_wrapper = dict(
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
