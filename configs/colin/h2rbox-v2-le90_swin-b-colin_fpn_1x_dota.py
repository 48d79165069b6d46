# CoLin (two complex-linear-projection adapters per block, after the attention and the FFN
# residuals; loss_orth 0.5 in the loss dict) on Swin-B 22K
# (outputs at strides 8/16/32, drop-path 0.2); only the method's parameters train in the
# backbone. DOTA v1.0 with the H2RBox-v2 (v2p) recipe of the Mona paper.
_base_ = ['../_base_/h2rbox-v2-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        method=dict(type='CoLin'),
        **dict(_base_.swin_b, out_indices=(1, 2, 3), drop_path_rate=0.2)),
    neck=dict(in_channels=[256, 512, 1024]))
