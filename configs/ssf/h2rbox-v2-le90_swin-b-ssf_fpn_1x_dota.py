# SSF (scale and shift after every frozen operation: patch embedding, norm1, qkv, proj, norm2, fc1,
# fc2) in Swin-B 22K (strides 8/16/32); DOTA v1.0 with H2RBox-v2 (v2p), the STAR-MMRotate recipe of
# the Mona configs. Only the method's parameters train in the backbone (see configs/ssf/README.md).
_base_ = ['../_base_/h2rbox-v2-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        **dict(_base_.swin_b, out_indices=(1, 2, 3), drop_path_rate=0.2),
        method=dict(type='SSF')),
    neck=dict(in_channels=[256, 512, 1024]))
