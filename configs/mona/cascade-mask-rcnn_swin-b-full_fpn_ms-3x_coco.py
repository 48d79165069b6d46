# Full fine-tuning baseline of cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py: same recipe, the
# plain Swin-B with every parameter trained.
_base_ = './cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py'
model = dict(backbone=dict(_delete_=True, type='PlainSwinTransformer', **_base_.swin_b))
custom_hooks = []  # every backbone parameter trains
