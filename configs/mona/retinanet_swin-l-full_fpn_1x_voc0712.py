# Full fine-tuning baseline of retinanet_swin-l-mona_fpn_1x_voc0712.py: plain Swin-L.
_base_ = './retinanet_swin-l-mona_fpn_1x_voc0712.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainSwinTransformer',
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3))))
custom_hooks = []  # every backbone parameter trains
