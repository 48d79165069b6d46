# Mona paper baseline Adapter (two sequential bottleneck adapters per block, 64 wide) on Swin-B
# 22K; only the method's parameters train in the backbone. DOTA v1.0 with the Oriented R-CNN le90
# recipe. As STAR-MMRotate (the paper's DOTA code): the adapters after the drop-path, PyTorch's
# default init.
_base_ = ['../_base_/oriented-rcnn-le90_fpn_1x_dota.py', '../_base_/swin_22k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='AdapterSwinTransformer',
        adapter_cfg=dict(reference='star'),
        **_base_.swin_b),
    neck=dict(in_channels=[128, 256, 512, 1024]))
