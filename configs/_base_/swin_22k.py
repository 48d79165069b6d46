# ImageNet-22K Swin checkpoints (patch 4, window 7, 224) used by every Swin config in mmpeft.
# Set the two paths here once, or per run with
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth
# Accepted without conversion: the official Microsoft files (swin_base_patch4_window7_224_22k.pth,
# swin_large_patch4_window7_224_22k.pth), the Mona repo's 'backbone.'-prefixed copies of them,
# mmseg's pre-converted files and mmpeft's own checkpoints (see tools/model_converters/).
swin_b_22k = 'checkpoints/swin_base_patch4_window7_224_22k.pth'
swin_l_22k = 'checkpoints/swin_large_patch4_window7_224_22k.pth'

# Architecture of Swin-B / Swin-L as used by the Mona paper (no absolute position embedding).
swin_b = dict(
    embed_dims=128,
    depths=[2, 2, 18, 2],
    num_heads=[4, 8, 16, 32],
    window_size=7,
    mlp_ratio=4,
    qkv_bias=True,
    qk_scale=None,
    drop_rate=0.,
    attn_drop_rate=0.,
    drop_path_rate=0.3,
    patch_norm=True,
    out_indices=(0, 1, 2, 3),
    with_cp=False,
    init_cfg=dict(type='Pretrained', checkpoint=swin_b_22k))
swin_l = dict(
    swin_b,
    embed_dims=192,
    num_heads=[6, 12, 24, 48],
    init_cfg=dict(type='Pretrained', checkpoint=swin_l_22k))
