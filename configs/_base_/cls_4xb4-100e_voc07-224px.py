# The Mona paper's classification recipe on PASCAL VOC2007 as the paper evaluates it: single-label
# (one class per image, linear head, cross-entropy, top-1 accuracy) over the user's own lists
# (the official ones are unpublished): data_root/train2mmcls.txt and test2mmcls.txt, one image a
# line, "<path relative to data_root> <label 0..19>", labels in VOC order (aeroplane = 0 ...
# tvmonitor = 19), e.g. "JPEGImages/000005.jpg 8".
_base_ = './cls_4xb4-100e-224px.py'
data_root = 'data/VOCdevkit/VOC2007/'
voc_classes = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')
model = dict(data_preprocessor=dict(num_classes=20), head=dict(num_classes=20))
train_dataloader = dict(
    dataset=dict(type='CustomDataset', data_root=data_root, ann_file='train2mmcls.txt',
                 with_label=True, metainfo=dict(classes=voc_classes)))
val_dataloader = dict(
    dataset=dict(type='CustomDataset', data_root=data_root, ann_file='test2mmcls.txt',
                 with_label=True, metainfo=dict(classes=voc_classes)))
test_dataloader = val_dataloader
