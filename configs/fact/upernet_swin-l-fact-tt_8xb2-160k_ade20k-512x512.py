# FacT-TT (rank 8, scale 1; U/V shared per stage, 12 r^2 per block) in Swin-L 22K; ADE20K with the
# UperNet 160k recipe of the baselines (drop-path 0.3, AdamW 6e-5). Only the method's parameters
# train in the backbone (see configs/fact/README.md).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        **dict(_base_.swin_l, drop_path_rate=0.3),
        method=dict(type='FacT', mode='tt')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
