# Mona on Swin-L 22K (drop-path 0.3, one output at stride 32); only the Mona modules
# train in the backbone.
# PASCAL VOC2007 (the paper's single-label protocol) with the paper's classification recipe.
_base_ = ['../_base_/cls_4xb4-100e_voc07-224px.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='MonaSwinTransformer',
        **dict(_base_.swin_l, out_indices=(3, ))))
