# VPT-deep (50 prompts per block) on Swin-B 22K, COCO instance segmentation: the Mona recipe
# (Cascade Mask R-CNN 4conv1fc GIoU, 3x multi-scale + crop, AdamW 1e-4, AMP, batch 16) with the
# backbone swapped for VPTSwin. Only the prompts of the backbone train (601,600 parameters).
# Change the prompt length with --cfg-options model.backbone.num_prompts=10.
_base_ = '../mona/cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py'

custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['prompt'])]

model = dict(
    backbone=dict(_delete_=True, type='VPTSwin', **_base_.swin_b, num_prompts=50, deep=True))
