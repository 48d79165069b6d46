# Mona paper baseline adaptformer on STAR with H2RBox-v2 (v2p), Swin-B 22K (strides 8/16/32,
# drop-path 0.2): one parallel bottleneck adapter per block (scale 0.1); only it trains in the
# backbone (STAR-MMRotate h2rbox_v2p_swin-b_adaptformer_fpn_1x_star_le90.py).
_base_ = ['../_base_/h2rbox-v2-le90_fpn_1x_star.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='AdaptFormerSwinTransformer',
        **dict(_base_.swin_b, out_indices=(1, 2, 3), drop_path_rate=0.2)),
    neck=dict(in_channels=[256, 512, 1024]))
