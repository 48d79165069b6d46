# Full fine-tuning baseline of oriented-rcnn-le90_swin-b-mona_fpn_1x_dota.py: plain Swin-B.
_base_ = './oriented-rcnn-le90_swin-b-mona_fpn_1x_dota.py'
model = dict(backbone=dict(_delete_=True, type='PlainSwinTransformer', **_base_.swin_b))
custom_hooks = []  # every backbone parameter trains
