_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', '../_base_/swin_22k.py']
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(backbone=dict(_delete_=True, type='MonaSwinTransformer', **_base_.swin_b),
             neck=dict(in_channels=[128, 256, 512, 1024]))
