# Mona paper baseline partial-1 on STAR with H2RBox-v2 (v2p), Swin-B 22K (strides 8/16/32, drop-path
# 0.2): the plain Swin-B 22K with only its last block trained (STAR-MMRotate
# h2rbox_v2p_swin-b_partial1_fpn_1x_star_le90.py).
_base_ = ['../_base_/h2rbox-v2-le90_fpn_1x_star.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['stages.3.blocks.1'],
        **dict(_base_.swin_b, out_indices=(1, 2, 3), drop_path_rate=0.2)),
    neck=dict(in_channels=[256, 512, 1024]))
