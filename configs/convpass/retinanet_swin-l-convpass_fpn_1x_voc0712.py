# Convpass (two convolutional bypasses per block, beside the attention and beside the FFN,
# fed the normed tokens, each with its own drop-path) on Swin-L 22K;
# only the method's parameters train in the backbone. Pascal VOC 07+12 with the Mona paper's
# RetinaNet recipe.
_base_ = ['../_base_/retinanet_fpn_1x_voc0712.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        method=dict(type='Convpass'),
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[384, 768, 1536]))
