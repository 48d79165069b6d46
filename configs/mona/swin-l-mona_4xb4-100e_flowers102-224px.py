# Mona on Swin-L 22K (drop-path 0.3, one output at stride 32); only the Mona modules
# train in the backbone.
# Oxford Flowers102 with the paper's classification recipe; the official Mona runs on
# Flowers102 and Pets used twice the recipe's lr (3.125e-5).
_base_ = ['../_base_/cls_4xb4-100e_flowers102-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='MonaSwinTransformer',
        **dict(_base_.swin_l, out_indices=(3, ))))
optim_wrapper = dict(optimizer=dict(lr=2 * _base_.base_lr))
