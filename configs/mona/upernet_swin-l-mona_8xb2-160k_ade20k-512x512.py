# Mona paper, ADE20K: UperNet, Swin-L 22K (window 7), 512x512 crops, 160k iterations,
# AdamW 3e-4 (5x the full fine-tuning lr), wd 0.01, 1500-iteration warm-up then poly, batch 8x2.
_base_ = [
    'mmseg::swin/swin-large-patch4-window7-in22k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    '../_base_/swin_22k.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# verifies that only the adapters train and logs the trainable-parameter table
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['mona'])]

model = dict(
    backbone=dict(
        _delete_=True, type='MonaSwinTransformer', **dict(_base_.swin_l, drop_path_rate=0.2)),
    decode_head=dict(in_channels=[192, 384, 768, 1536], num_classes=150),
    auxiliary_head=dict(in_channels=768, num_classes=150))

# As in the official run, the 'backbone' key (longest match first) shadows 'norm' for backbone
# parameters, so every trainable adapter parameter gets weight decay 0.01.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=3e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=1.0), **_base_.swin_custom_keys)))
