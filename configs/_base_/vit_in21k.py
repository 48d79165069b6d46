# ImageNet-21K ViT-B/16 checkpoint used by the HSTViT configs: the AugReg file HST uses
# (timm 'vit_base_patch16_224.augreg_in21k',
# B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0).
# HSTViT reads timm .pth files (and mmseg's layout); make one from timm once, on any machine with
# timm and internet:
#   import timm, torch
#   m = timm.create_model('vit_base_patch16_224.augreg_in21k', pretrained=True)
#   torch.save(m.state_dict(), 'checkpoints/vit-base-p16_augreg-in21k.pth')
# or set the path per run with --cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth
vit_b_in21k = 'checkpoints/vit-base-p16_augreg-in21k.pth'

# HSTViT on ViT-B/16 (global attention in all 12 blocks, 3 blocks per side stage) with the hst-b
# side widths [64, 128, 256, 512] (the outputs' channels); side_arch='hst-s' gives the ~4M variant
# with [32, 64, 128, 256].
hst_vit_b = dict(
    type='HSTViT',
    arch='b',
    side_arch='hst-b',
    img_size=224,
    drop_path_rate=0.1,
    side_drop_path_rate=0.1,
    out_indices=(0, 1, 2, 3),
    with_cp=False,
    init_cfg=dict(type='Pretrained', checkpoint=vit_b_in21k))

# AugReg (Google) ViT weights expect inputs scaled to [-1, 1] (timm mean = std = 0.5)
vit_mean = [127.5, 127.5, 127.5]
vit_std = [127.5, 127.5, 127.5]

# the side network's stem has a BatchNorm: synchronise it across GPUs in distributed runs
# (mmengine converts BN to SyncBN only when the run is distributed)
sync_bn = 'torch'
