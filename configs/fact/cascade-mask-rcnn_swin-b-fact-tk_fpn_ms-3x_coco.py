# FacT-TK (rank 8, scale 1; U/V, core and P shared per stage) in Swin-B 22K; COCO instance
# segmentation with the Mona paper's Cascade Mask R-CNN 3x recipe. Only the method's parameters
# train in the backbone (see configs/fact/README.md).
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True, type='PEFTSwinTransformer', **_base_.swin_b,
        method=dict(type='FacT', mode='tk')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
