# VPT-deep (50 prompts per block) on Swin-L 22K, Pascal VOC 07+12 with the Mona paper's RetinaNet
# recipe. Only the prompts of the backbone train (902,400 parameters).
_base_ = ['../_base_/retinanet_fpn_1x_voc0712.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='VPTSwin',
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3)),
        num_prompts=50,
        deep=True),
    neck=dict(in_channels=[384, 768, 1536]))
