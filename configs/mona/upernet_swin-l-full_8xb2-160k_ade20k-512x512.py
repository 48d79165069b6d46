# Mona paper baseline "full" on ADE20K: the plain Swin-L, every parameter trained, drop-path 0.3,
# AdamW 6e-5 (the recipe's, as the official full fine-tuning run).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='PlainSwinTransformer', **dict(_base_.swin_l, drop_path_rate=0.3)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
