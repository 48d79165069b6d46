# Mona paper baseline Adapter (two sequential bottleneck adapters per block, 64 wide,
# before the drop-path as the official code) on Swin-L 22K; only they train in the backbone.
# Oxford Flowers102 with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_flowers102-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='AdapterSwinTransformer',
        **dict(_base_.swin_l, out_indices=(3, ))))
