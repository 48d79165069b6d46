# SSF (scale and shift after every frozen operation: patch embedding, norm1, qkv, proj, norm2, fc1,
# fc2) in Swin-L 22K; Pascal VOC 07+12 with the paper's RetinaNet recipe. Only the method's
# parameters train in the backbone (see configs/ssf/README.md).
_base_ = ['../_base_/retinanet_fpn_1x_voc0712.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PEFTSwinTransformer',
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3)),
        method=dict(type='SSF')),
    neck=dict(in_channels=[384, 768, 1536]))
