# Mona paper baseline LoRand (not in the official classification configs: added on the
# same recipe) on Swin-L 22K; only the method's parameters train in the backbone.
# PASCAL VOC2007 (the paper's single-label protocol) with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_voc07-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='LoRandSwinTransformer',
        **dict(_base_.swin_l, out_indices=(3, ))))
