# Recipe of mmdet's COCO Mask R-CNN R50-FPN 1x (SGD 0.02, batch 16, 12 epochs, steps at 8 and 11),
# for the ResNet configs. A method config sets the backbone.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# logs the trainable-parameter table and checks that the backbone's freezing never changes
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=None)]
