# HST on COCO instance segmentation: a frozen IN-21k ViT-B/16 with the hst-b side network (14.9M
# trainable in the backbone) on the Mona paper's Cascade Mask R-CNN 3x recipe. The HST paper's
# dense recipe is not published (configs/README.md, deviations). As the official optimiser, no
# weight decay on 1-D parameters and biases (norms, biases, attention in_proj_bias).
_base_ = ['../_base_/cascade-mask-rcnn_fpn_ms-3x_coco.py', '../_base_/vit_in21k.py']
model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **_base_.hst_vit_b),
    neck=dict(in_channels=[64, 128, 256, 512]))
optim_wrapper = dict(
    paramwise_cfg=dict(_delete_=True, norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
