_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(backbone=dict(_delete_=True, type='MonaSwinTransformer', embed_dims=128,
                           depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32],
                           init_cfg=dict(type='Pretrained', checkpoint='path/to/swin.pth')),
             neck=dict(in_channels=[128, 256, 512, 1024]))
