_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
# Mona in every layer of a frozen DINOv2 ViT-B/14; ViTDet's SimpleFPN turns its one stride-14
# map into the pyramid that mmdet's heads expect
model = dict(
    backbone=dict(_delete_=True, type='PEFTViT', arch='base', patch_size=14, img_size=518,
                  layer_scale_init_value=1e-5, interpolate_offset=0.1, out_indices=(11, ),
                  method=dict(type='Mona'),
                  init_cfg=dict(type='Pretrained',
                                checkpoint='checkpoints/dinov2_vitb14_pretrain.pth')),
    neck=dict(_delete_=True, type='SimpleFPN', in_channels=[768], in_stride=14,
              out_channels=256, num_outs=5))
