# Mona paper baseline "fixed": the Swin-L 22K frozen, only the head trains.
# PASCAL VOC2007 (the paper's single-label protocol) with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_voc07-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=[],
        **dict(_base_.swin_l, out_indices=(3, ))))
