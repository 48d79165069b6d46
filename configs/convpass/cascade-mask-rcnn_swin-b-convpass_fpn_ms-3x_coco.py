# Convpass (two convolutional bypasses per block, beside the attention and beside the FFN,
# fed the normed tokens, each with its own drop-path) on Swin-B 22K;
# only the method's parameters train in the backbone. COCO instance segmentation with the Mona
# paper's Cascade Mask R-CNN 3x recipe.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='PEFTSwinTransformer', method=dict(type='Convpass'), **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
