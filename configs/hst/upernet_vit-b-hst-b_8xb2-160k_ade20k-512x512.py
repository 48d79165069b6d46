# HST on ADE20K: a frozen IN-21k ViT-B/16 with the hst-b side network on the UperNet 160k recipe
# with the PEFT lr of the Mona config (AdamW 3e-4, wd 0.01; no decay on 1-D parameters and biases,
# as the official optimiser). Sliding-window test (512 crops, stride 341) as in mmseg's ViT
# configs: every crop is a multiple of 32, which HSTViT needs.
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/vit_in21k.py']
model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **_base_.hst_vit_b),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
optim_wrapper = dict(
    optimizer=dict(lr=3e-4),
    paramwise_cfg=dict(_delete_=True, norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
