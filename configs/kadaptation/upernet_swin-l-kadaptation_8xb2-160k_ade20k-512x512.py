# KAdaptation (Kronecker update of q and v, 32 rules shared by all blocks; fixed init and head
# split) in Swin-L 22K; ADE20K with the UperNet 160k recipe of the baselines (drop-path 0.3, AdamW
# 6e-5). Only the method's parameters train in the backbone (see configs/kadaptation/README.md).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        **dict(_base_.swin_l, drop_path_rate=0.3),
        method=dict(type='KAdaptation')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
