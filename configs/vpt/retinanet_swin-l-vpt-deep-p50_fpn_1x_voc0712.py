# VPT-deep (50 prompts per block) on Swin-L 22K, Pascal VOC 07+12: the Mona recipe (RetinaNet,
# out_indices (1, 2, 3), AdamW 1e-4, 3x-repeated VOC0712 for 4 epochs) with the backbone swapped
# for VPTSwin. Only the prompts of the backbone train (902,400 parameters).
_base_ = '../mona/retinanet_swin-l-mona_fpn_1x_voc0712.py'

custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['prompt'])]

model = dict(
    backbone=dict(
        _delete_=True,
        type='VPTSwin',
        **dict(_base_.swin_l, drop_path_rate=0.2, out_indices=(1, 2, 3)),
        num_prompts=50,
        deep=True))
