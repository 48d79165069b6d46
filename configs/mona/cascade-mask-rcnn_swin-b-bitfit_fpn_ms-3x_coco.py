# Mona paper baseline "bitfit": the plain Swin-B of the full fine-tuning config with only the
# backbone parameters whose names contain one of ['bias'] trained (neck and heads train fully).
_base_ = './cascade-mask-rcnn_swin-b-full_fpn_ms-3x_coco.py'
custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['bias'])]
