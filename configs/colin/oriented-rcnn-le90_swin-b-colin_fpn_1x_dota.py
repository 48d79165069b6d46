# CoLin (two complex-linear-projection adapters per block, after the attention and the FFN
# residuals; loss_orth 0.5 in the loss dict) on Swin-B 22K;
# only the method's parameters train in the backbone. DOTA v1.0 with the Oriented R-CNN le90
# recipe.
_base_ = ['../_base_/oriented-rcnn-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='PEFTSwinTransformer', method=dict(type='CoLin'), **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
