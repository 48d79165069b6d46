# Mona paper baseline "full" on VOC: the plain Swin-L, every parameter trained but the patch
# embedding, frozen as in the official VOC runs (frozen_stages=1).
_base_ = ['../_base_/retinanet_fpn_1x_voc0712.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        frozen=['patch_embed'],
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[384, 768, 1536]))
