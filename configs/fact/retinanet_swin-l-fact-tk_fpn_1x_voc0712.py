# FacT-TK (rank 8, scale 1; U/V, core and P shared per stage) in Swin-L 22K; Pascal VOC 07+12 with
# the paper's RetinaNet recipe. Only the method's parameters train in the backbone (see
# configs/fact/README.md).
_base_ = ['../_base_/retinanet_fpn_1x_voc0712.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3)),
        method=dict(type='FacT', mode='tk')),
    neck=dict(in_channels=[384, 768, 1536]))
