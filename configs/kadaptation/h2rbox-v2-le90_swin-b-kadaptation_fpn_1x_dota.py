# KAdaptation (Kronecker update of q and v, 32 rules shared by all blocks; fixed init and head
# split) in Swin-B 22K (strides 8/16/32); DOTA v1.0 with H2RBox-v2 (v2p), the STAR-MMRotate recipe
# of the Mona configs. Only the method's parameters train in the backbone (see
# configs/kadaptation/README.md).
_base_ = ['../_base_/h2rbox-v2-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        **dict(_base_.swin_b, out_indices=(1, 2, 3), drop_path_rate=0.2),
        method=dict(type='KAdaptation')),
    neck=dict(in_channels=[256, 512, 1024]))
