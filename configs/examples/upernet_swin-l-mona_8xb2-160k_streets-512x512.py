_base_ = '../mona/upernet_swin-l-mona_8xb2-160k_ade20k-512x512.py'
# label maps: 0 = unlabelled (ignored, as ADE20K's reduce_zero_label does), 1..3 = these classes
classes = ('road', 'building', 'vegetation')
palette = [[128, 64, 128], [70, 70, 70], [107, 142, 35]]
data_root = 'data/streets/'
# both heads classify: the UperNet decode head and the FCN auxiliary head
model = dict(decode_head=dict(num_classes=3), auxiliary_head=dict(num_classes=3))
train_dataloader = dict(dataset=dict(
    type='BaseSegDataset', data_root=data_root, metainfo=dict(classes=classes, palette=palette),
    data_prefix=dict(img_path='images/train', seg_map_path='labels/train')))
val_dataloader = dict(dataset=dict(
    type='BaseSegDataset', data_root=data_root, metainfo=dict(classes=classes, palette=palette),
    data_prefix=dict(img_path='images/val', seg_map_path='labels/val')))
test_dataloader = val_dataloader
