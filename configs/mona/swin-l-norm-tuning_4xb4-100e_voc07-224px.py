# Mona paper baseline norm-tuning: only the LayerNorms of Swin-L 22K train (and the
# head).
# PASCAL VOC2007 (the paper's single-label protocol) with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_voc07-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['norm'],
        **dict(_base_.swin_l, out_indices=(3, ))))
