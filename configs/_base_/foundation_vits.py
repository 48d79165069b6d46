# The foundation ViTs of configs/foundation/ (mmpretrain's VisionTransformer / ViTSAM as PEFTViT /
# PEFTSAMViT; settings as the official models). Set the checkpoint paths here once, or per run with
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth
# Accepted as released (layout auto-detected): DINOv2's hub files, SAM's checkpoints, EVA-02's
# files, OpenAI's CLIP after `python tools/model_converters/clip2mmpeft.py ViT-B-16.pt
# clip_vit-b-16.pth` (the .pt is a TorchScript archive), and mmpretrain's converted files. The
# position table is interpolated to every input size as the family's own code does (DINOv2: scale
# factor offset 0.1; with registers: antialiased); img_size is the pretraining grid (one
# interpolation).
dinov2_vitb14 = 'checkpoints/dinov2_vitb14_pretrain.pth'
dinov2_vitb14_reg4 = 'checkpoints/dinov2_vitb14_reg4_pretrain.pth'
clip_vitb16 = 'checkpoints/clip_vit-b-16.pth'
sam_vitb = 'checkpoints/sam_vit_b_01ec64.pth'
eva02_vitb14 = 'checkpoints/eva02_B_pt_in21k_p14.pt'  # Yuxin-CV/EVA-02 eva02/pt/

# DINOv2 ViT-B/14 (LVD-142M): layer scale, 518 px table (37x37), the last layer's normed map at
# stride 14 for the SimpleFPN (which resamples it to stride 16: in_stride=14)
dinov2_b = dict(
    type='PEFTViT',
    arch='base',
    patch_size=14,
    img_size=518,
    layer_scale_init_value=1e-5,
    interpolate_offset=0.1,
    out_indices=(11, ),
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint=dinov2_vitb14))
# the same with 4 register tokens (dinov2_vitb14_reg4): antialiased interpolation, no offset
dinov2_b_reg4 = dict(
    dinov2_b,
    num_register_tokens=4,
    interpolate_offset=0.,
    interpolate_antialias=True,
    init_cfg=dict(type='Pretrained', checkpoint=dinov2_vitb14_reg4))
dinov2_neck = dict(in_channels=[768], in_stride=14)

# OpenAI CLIP ViT-B/16: pre-norm (ln_pre, no patch bias), QuickGELU, LayerNorm eps 1e-5, ln_post
# on every token of the last layer
clip_b16 = dict(
    type='PEFTViT',
    arch='base',
    patch_size=16,
    img_size=224,
    pre_norm=True,
    norm_cfg=dict(type='LN', eps=1e-5),
    layer_cfgs=dict(act_cfg=dict(type='mmpretrain.QuickGELU')),
    out_indices=(11, ),
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint=clip_vitb16))
clip_neck = dict(in_channels=[768], in_stride=16)
clip_mean = [122.770938, 116.7460125, 104.09373615]
clip_std = [68.5005327, 66.6321579, 70.32316305]

# SAM's ViT-B image encoder: window 14, global attention in layers 2, 5, 8, 11, relative
# positions, 1024 px table (64x64); SAM's own 256-channel neck is dropped (out_channels=0)
sam_b = dict(
    type='PEFTSAMViT',
    arch='base',
    patch_size=16,
    img_size=1024,
    window_size=14,
    out_channels=0,
    out_indices=(11, ),
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint=sam_vitb))
sam_neck = dict(in_channels=[768], in_stride=16)

# EVA-02-B/14 (MIM pretraining on IN-21K): SwiGLU with sub-LN, rotary positions (EVA-02's table,
# computed for every grid), LayerNorm eps 1e-6 as EVA-02, 224 px table (16x16); the last layer's
# map without a final norm (as EVA-02's ViTDet) at stride 14 for the SimpleFPN (in_stride=14).
# Inputs: CLIP's mean / std.
eva02_b = dict(
    type='PEFTEVA02',
    arch='b',
    patch_size=14,
    img_size=224,
    sub_ln=True,
    norm_cfg=dict(type='LN', eps=1e-6),
    final_norm=False,
    out_indices=(11, ),
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint=eva02_vitb14))
eva02_neck = dict(in_channels=[768], in_stride=14)

# ADE20K: UperNet (and its FCN auxiliary head) on a 256-channel SimpleFPN at strides 4-32
dinov2_upernet = dict(
    neck=dict(type='SimpleFPN', out_channels=256, num_outs=4, **dinov2_neck),
    decode_head=dict(in_channels=[256, 256, 256, 256]),
    auxiliary_head=dict(in_channels=256))
