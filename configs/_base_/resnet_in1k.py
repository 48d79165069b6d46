# ImageNet-1k ResNet-50 for the PEFTResNet configs. Set the path here once, or per run with
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth
# Accepted without conversion (layout auto-detected): torchvision's file (resnet50-0676ba61.pth,
# what mmdet's torchvision://resnet50 downloads), mmdet/mmseg detector files and the official
# Conv-Adapter checkpoints ({'model', 'optimizer', 'epoch', 'scaler', 'args'}).
resnet50_in1k = 'checkpoints/resnet50-0676ba61.pth'

# ResNet-50 as mmdet's detectors use it (pytorch style, BatchNorm in eval mode), frozen but for the
# PEFT method a config adds as method=dict(type=...)
peft_r50 = dict(
    type='PEFTResNet',
    depth=50,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    norm_cfg=dict(type='BN', requires_grad=False),
    norm_eval=True,
    style='pytorch',
    init_cfg=dict(type='Pretrained', checkpoint=resnet50_in1k))
