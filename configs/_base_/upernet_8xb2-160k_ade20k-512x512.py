# Recipe of the Mona paper's baselines, ADE20K: UperNet (+ FCN auxiliary head), 512x512 crops,
# 160k iterations, AdamW 6e-5 (wd 0.01, no decay on position tables and norms), 1500-iteration
# warm-up then poly, batch 8x2. A method config adds the backbone and the heads' in_channels; the
# PEFT methods raise the lr (Mona: 3e-4).
_base_ = 'mmseg::swin/swin-large-patch4-window7-in22k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)

# logs the trainable-parameter table and checks that the backbone's freezing never changes
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=None)]

model = dict(decode_head=dict(num_classes=150), auxiliary_head=dict(num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
