# FacT-TK (rank 8, scale 1; U/V, core and P shared per stage) in Swin-B 22K; DOTA v1.0 with the
# Oriented R-CNN le90 recipe. Only the method's parameters train in the backbone (see
# configs/fact/README.md).
_base_ = ['../_base_/oriented-rcnn-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='PEFTSwinTransformer', **_base_.swin_b,
        method=dict(type='FacT', mode='tk')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
