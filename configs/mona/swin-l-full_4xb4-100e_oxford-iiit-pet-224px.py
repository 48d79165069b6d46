# Mona paper baseline "full": the plain Swin-L 22K, every parameter trained.
# Oxford-IIIT Pet with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_oxford-iiit-pet-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        **dict(_base_.swin_l, out_indices=(3, ))))
