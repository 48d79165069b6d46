# Mona in every block of a frozen DINOv3 ViT-7B/16 (6.7B parameters) on ViTDet's COCO recipe,
# blocks recomputed in backward (with_cp). Memory (configs/README.md; parameter and optimizer
# bytes of this config built on the meta device, activations not measured): the frozen ViT is
# 26.9 GB in fp32; the 144.6M trained parameters (Mona 44.4M, SimpleFPN and heads) with their
# gradients and AdamW moments 2.3 GB: about 29 GB of one 80 GB GPU, the rest for activations, one
# image per GPU.
_base_ = ['../_base_/mask-rcnn_simplefpn_lsj-100e_coco.py', '../_base_/dinov3_vits.py']
model = dict(
    data_preprocessor=_base_.dinov3_preprocessor,
    backbone=dict(_delete_=True, **_base_.dinov3_7b, method=dict(type='Mona'), with_cp=True),
    neck=_base_.dinov3_7b_neck)
train_dataloader = dict(batch_size=1)
