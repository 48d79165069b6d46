# HST on ADE20K: the Mona ADE20K recipe (UperNet, 512x512 crops, 160k iterations, AdamW 3e-4,
# wd 0.01, poly with warm-up, 8x2 images) on a frozen IN-21k ViT-B/16 with the hst-b side network.
# Sliding-window test (512 crops, stride 341) as in mmseg's ViT configs: every crop is a multiple
# of 32, which HSTViT needs.
_base_ = [
    '../mona/upernet_swin-l-mona_8xb2-160k_ade20k-512x512.py',
    '../_base_/vit_in21k.py',
]

custom_hooks = [
    dict(type='FreezeBackboneHook', module='backbone', trainable=_base_.hst_trainable)
]

model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **_base_.hst_vit_b),
    decode_head=dict(in_channels=_base_.hst_dims['hst-b']),
    auxiliary_head=dict(in_channels=_base_.hst_dims['hst-b'][2]),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))

optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, norm_decay_mult=0.0))
