# Mona paper baseline LoRA (rank 64, alpha 1, on q and v of every window attention) on
# Swin-L 22K; only the method's parameters train in the backbone.
# Oxford-IIIT Pet with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_oxford-iiit-pet-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='LoRASwinTransformer',
        **dict(_base_.swin_l, out_indices=(3, ))))
