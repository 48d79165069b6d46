# CoLin (two complex-linear-projection adapters per block, after the attention and the FFN
# residuals; loss_orth 0.5 in the loss dict) on Swin-L 22K;
# only the method's parameters train in the backbone. ADE20K with the UperNet 160k recipe of the
# baselines (drop-path 0.3, AdamW 6e-5).
_base_ = ['../_base_/upernet_8xb2-160k_ade20k-512x512.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        method=dict(type='CoLin'),
        **dict(_base_.swin_l, drop_path_rate=0.3)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
