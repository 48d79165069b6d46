# Mona paper baseline LoRand on DOTA with H2RBox-v2 (v2p): two LoRand adapters per block
# (C -> C/2 -> C) in Swin-B 22K (strides 8/16/32); only they train in the backbone
# (STAR-MMRotate h2rbox_v2p_swin-b_lorand_fpn_1x_dota_le90.py).
_base_ = ['../_base_/h2rbox-v2-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='LoRandSwinTransformer',
        **dict(_base_.swin_b, out_indices=(1, 2, 3), drop_path_rate=0.2)),
    neck=dict(in_channels=[256, 512, 1024]))
