# CoLin (two complex-linear-projection adapters per block, after the attention and the FFN
# residuals; loss_orth 0.5 in the loss dict) on Swin-B 22K;
# only the method's parameters train in the backbone. COCO instance segmentation with the Mona
# paper's Cascade Mask R-CNN 3x recipe.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='PEFTSwinTransformer', method=dict(type='CoLin'), **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
