# Recipe for STAR (arXiv 2406.09410: 48 classes, whole test scenes up to 27,860 x 31,096 px) as the
# Mona paper ran it: STAR-MMRotate's H2RBox-v2 "v2p" configs (configs/h2rbox_v2p/peft/
# *_fpn_1x_star_le90.py, detector H2RBoxV2PDetectorCrop). It is the DOTA v2p recipe of this folder
# with STAR's differences, all set here explicitly (none of DOTA's class indices survive):
# - 48 classes (STARDataset, STAR-MMRotate's order); rotation-agnostic classes tank (4) and
#   roundabout (44); no class shrunk at test (DOTA shrinks its class 1, which would be 'boat');
# - AdamW lr 1e-4 (DOTA: 5e-5);
# - training on 1024 patches of the train scenes (tools/dataset_converters/star_split.py writes
#   data/split_ss_star/train/ from data/STAR/train/, gap 200); resized to fit 1024, flips as DOTA;
# - validation (every 6 epochs) and test on the labelled whole test scenes (data/STAR/test/, the
#   only labelled held-out set): sliding 1024 windows with overlap 200 read from the image file,
#   4 per forward, merged by class-agnostic rotated NMS at IoU 0.4 (mmpeft SlidingWindow*Loop),
#   scored by mmrotate's DOTAMetric (VOC07 11-point AP at IoU 0.5).
_base_ = './h2rbox-v2-le90_fpn_1x_dota.py'

dataset_type = 'STARDataset'
data_root = 'data/STAR/'
split_root = 'data/split_ss_star/'

model = dict(
    bbox_head=dict(
        num_classes=48,
        # STARDataset.METAINFO['classes'].index('tank'), .index('roundabout')
        rotation_agnostic_classes=[4, 44],
        agnostic_resize_classes=[]))

# whole scenes: only the annotations are loaded here; the loops read the pixels window by window
whole_image_pipeline = [
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path'))
]
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=split_root,
        ann_file='train/annfiles/',
        data_prefix=dict(img_path='train/images/')))
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='test/annfiles/',
        data_prefix=dict(img_path='test/images/'),
        pipeline=whole_image_pipeline))
test_dataloader = val_dataloader

window_cfg = dict(window=1024, overlap=200, min_cover=0.6, batch_size=4, iou_thr=0.4,
                  pad_size_divisor=64)
val_cfg = dict(_delete_=True, type='SlidingWindowValLoop', **window_cfg)
test_cfg = dict(_delete_=True, type='SlidingWindowTestLoop', **window_cfg)

optim_wrapper = dict(optimizer=dict(lr=1e-4))
