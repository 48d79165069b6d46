# SSF (scale and shift after every frozen operation: patch embedding, norm1, qkv, proj, norm2, fc1,
# fc2) in Swin-L 22K; ADE20K with the UperNet 160k recipe of the baselines (drop-path 0.3, AdamW
# 6e-5). Only the method's parameters train in the backbone (see configs/ssf/README.md).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        **dict(_base_.swin_l, drop_path_rate=0.3),
        method=dict(type='SSF')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
