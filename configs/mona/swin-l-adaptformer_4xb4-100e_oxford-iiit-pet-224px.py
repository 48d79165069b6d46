# Mona paper baseline AdaptFormer (one parallel adapter per block, 64 wide, scale 0.1)
# on Swin-L 22K; only they train in the backbone.
# Oxford-IIIT Pet with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_oxford-iiit-pet-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='AdaptFormerSwinTransformer',
        **dict(_base_.swin_l, out_indices=(3, ))))
