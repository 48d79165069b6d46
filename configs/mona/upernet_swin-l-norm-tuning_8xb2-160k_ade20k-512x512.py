# Mona paper baseline "norm-tuning": the plain Swin-L with only its LayerNorms trained (pattern
# 'norm'); neck and heads train fully. ADE20K with the UperNet 160k recipe of the baselines
# (drop-path 0.3, AdamW 6e-5).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['norm'],
        **dict(_base_.swin_l, drop_path_rate=0.3)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
