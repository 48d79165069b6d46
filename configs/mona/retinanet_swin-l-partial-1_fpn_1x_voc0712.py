# Mona paper baseline "partial-1": the plain Swin-L with only its last block trained; neck and
# heads train fully. Pascal VOC 07+12 with the paper's RetinaNet recipe.
_base_ = ['../_base_/retinanet_fpn_1x_voc0712.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['stages.3.blocks.1'],
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[384, 768, 1536]))
