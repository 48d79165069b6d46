# DINOv3 ViTs (facebookresearch/dinov3, LVD-1689M weights) as PEFTDINOv3 for configs/foundation/.
# Set the checkpoint paths here once, or per run with
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth
# The released .pth files (gated download from Meta) load as released, layout auto-detected: the
# masked k bias is folded in (bias * bias_mask), the rotary periods come from the file
# (rope_embed.periods), mask_token / local_cls_norm are reported as unused. No position table:
# nothing is interpolated; the rotary table is computed for every input grid.
dinov3_vitb16 = 'checkpoints/dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth'
dinov3_vitl16 = 'checkpoints/dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth'
dinov3_vit7b16 = 'checkpoints/dinov3_vit7b16_pretrain_lvd1689m-a955f4ea.pth'

# ViT-B/16: the last block's patch map through the final norm (the official dense convention)
# at stride 16 for the SimpleFPN; drop path 0.1 in every block (DINOv3 uses one rate)
dinov3_b = dict(
    type='PEFTDINOv3',
    arch='vitb16',
    out_indices=(11, ),
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint=dinov3_vitb16))
dinov3_b_neck = dict(in_channels=[768], in_stride=16)
# ViT-L/16 (MLP FFN, 24 blocks)
dinov3_l = dict(
    dinov3_b,
    arch='vitl16',
    out_indices=(23, ),
    drop_path_rate=0.3,
    init_cfg=dict(type='Pretrained', checkpoint=dinov3_vitl16))
dinov3_l_neck = dict(in_channels=[1024], in_stride=16)
# ViT-7B/16 (SwiGLU, head dims 128, no q/k/v bias, 40 blocks): meant to stay frozen
dinov3_7b = dict(
    dinov3_b,
    arch='vit7b16',
    out_indices=(39, ),
    drop_path_rate=0.,
    init_cfg=dict(type='Pretrained', checkpoint=dinov3_vit7b16))
dinov3_7b_neck = dict(in_channels=[4096], in_stride=16)

# LVD-1689M models: ImageNet mean / std on RGB
dinov3_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
# no weight decay on the learned tokens (and, by the recipes, the norms) when the ViT trains
dinov3_no_decay = {
    'cls_token': dict(decay_mult=0.),
    'storage_tokens': dict(decay_mult=0.)
}

# ADE20K: UperNet (and its FCN auxiliary head) on a 256-channel SimpleFPN at strides 4-32
dinov3_upernet_heads = dict(
    decode_head=dict(in_channels=[256, 256, 256, 256]), auxiliary_head=dict(in_channels=256))
dinov3_b_upernet = dict(
    neck=dict(type='SimpleFPN', out_channels=256, num_outs=4, **dinov3_b_neck),
    **dinov3_upernet_heads)
dinov3_l_upernet = dict(
    neck=dict(type='SimpleFPN', out_channels=256, num_outs=4, **dinov3_l_neck),
    **dinov3_upernet_heads)
