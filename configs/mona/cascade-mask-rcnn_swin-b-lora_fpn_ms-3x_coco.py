# Mona paper baseline LoRA (rank 64, alpha 1, on q and v of every window attention) on Swin-B 22K;
# only the method's parameters train in the backbone. COCO instance segmentation with the paper's
# Cascade Mask R-CNN 3x recipe.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(_delete_=True, type='LoRASwinTransformer', **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
