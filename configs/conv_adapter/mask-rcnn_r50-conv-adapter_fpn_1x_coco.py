# Conv-Adapter (beside each Bottleneck's conv2 -> norm2 -> ReLU) in a frozen ImageNet ResNet-50,
# COCO instance segmentation with mmdet's Mask R-CNN R50-FPN 1x recipe.
_base_ = ['../_base_/mask-rcnn_fpn_1x_coco.py', '../_base_/resnet_in1k.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.peft_r50, method=dict(type='ConvAdapter')))
