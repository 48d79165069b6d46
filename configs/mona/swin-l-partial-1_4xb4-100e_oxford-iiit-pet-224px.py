# Mona paper baseline partial-1: only the last block of Swin-L 22K trains (and the
# head).
# Oxford-IIIT Pet with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_oxford-iiit-pet-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        trainable=['stages.3.blocks.1'],
        **dict(_base_.swin_l, out_indices=(3, ))))
