# Mona paper baseline "BitFit": the plain Swin-L with only its bias terms trained (the pattern
# 'bias' also matches the relative position bias tables, as in the reference); neck and heads
# train fully. Pascal VOC 07+12 with the paper's RetinaNet recipe. The patch embedding stays
# frozen, as the official VOC runs' frozen_stages=1.
_base_ = ['../_base_/retinanet_fpn_1x_voc0712.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['bias'],
        frozen=['patch_embed'],
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[384, 768, 1536]))
