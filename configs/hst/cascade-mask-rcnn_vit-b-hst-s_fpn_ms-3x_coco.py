# HST with the small side network hst-s [32, 64, 128, 256]: 4.0M trainable in the backbone, about
# Mona-Swin-B's 3.7M, for a like-for-like comparison. Otherwise as the hst-b config.
_base_ = './cascade-mask-rcnn_vit-b-hst-b_fpn_ms-3x_coco.py'

model = dict(
    backbone=dict(side_arch='hst-s'),
    neck=dict(in_channels=_base_.hst_dims['hst-s']))
