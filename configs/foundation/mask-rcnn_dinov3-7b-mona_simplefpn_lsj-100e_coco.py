# Mona in every block of a frozen DINOv3 ViT-7B/16 (6.7B parameters) on ViTDet's COCO recipe,
# blocks recomputed in backward (with_cp). Memory (configs/README.md, measured on the meta
# device): the frozen ViT is 26.9 GB in fp32 (13.4 GB in bf16), Mona's 43.9M parameters with
# AdamW's two moments and their gradients 0.7 GB; activations at 1024 px with with_cp fit one
# 80 GB GPU at 1 image per GPU (batch 64 = 64 GPUs or gradient accumulation), not measured here.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_7b, method=dict(type='Mona'), with_cp=True),
    neck=_base_.dinov3_7b_neck)
train_dataloader = dict(batch_size=1)
