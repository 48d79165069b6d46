# Convpass (two convolutional bypasses per block, beside the attention and beside the FFN,
# fed the normed tokens, each with its own drop-path) on Swin-B 22K;
# only the method's parameters train in the backbone. DOTA v1.0 with the Oriented R-CNN le90
# recipe.
_base_ = ['../_base_/oriented-rcnn-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='PEFTSwinTransformer', method=dict(type='Convpass'), **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
