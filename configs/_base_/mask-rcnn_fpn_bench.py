# Recipe of the benchmark configs (tools/analysis/benchmark_peft.py): Mask R-CNN with FPN, AdamW
# 1e-4 (wd 0.05). A benchmark config adds a randomly initialised backbone (init_cfg=None: the
# benchmark measures cost, not accuracy) and the neck's in_channels.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
