# Full fine-tuning baseline of upernet_swin-l-mona_8xb2-160k_ade20k-512x512.py: plain Swin-L,
# drop-path 0.3, AdamW 6e-5 without the 'backbone' key (as the official full fine-tuning run).
_base_ = './upernet_swin-l-mona_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        _delete_=True, type='PlainSwinTransformer', **dict(_base_.swin_l, drop_path_rate=0.3)))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys=_base_.swin_custom_keys))
custom_hooks = []  # every backbone parameter trains
