# Mona paper baseline partial-1: only the last block of Swin-L 22K trains (and the
# head).
# PASCAL VOC2007 (the paper's single-label protocol) with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_voc07-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['stages.3.blocks.1'],
        **dict(_base_.swin_l, out_indices=(3, ))))
