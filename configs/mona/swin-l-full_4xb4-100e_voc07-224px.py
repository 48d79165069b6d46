# Mona paper baseline "full": the plain Swin-L 22K, every parameter trained.
# PASCAL VOC2007 (the paper's single-label protocol) with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_voc07-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        **dict(_base_.swin_l, out_indices=(3, ))))
