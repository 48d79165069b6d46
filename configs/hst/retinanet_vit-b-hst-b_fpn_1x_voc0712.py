# HST on Pascal VOC 07+12: a frozen IN-21k ViT-B/16 with hst-b (stride 8/16/32 outputs) on the Mona
# paper's RetinaNet recipe; no weight decay on 1-D parameters and biases, as the official optimiser.
_base_ = ['../_base_/retinanet_fpn_1x_voc0712.py', '../_base_/vit_in21k.py']
model = dict(
    data_preprocessor=dict(mean=_base_.vit_mean, std=_base_.vit_std),
    backbone=dict(_delete_=True, **dict(_base_.hst_vit_b, out_indices=(1, 2, 3))),
    neck=dict(in_channels=[128, 256, 512]))
optim_wrapper = dict(
    paramwise_cfg=dict(_delete_=True, norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
