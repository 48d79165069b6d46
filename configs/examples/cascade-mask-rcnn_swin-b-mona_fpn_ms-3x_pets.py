_base_ = '../mona/cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py'
classes = ('cat', 'dog')
data_root = 'data/pets/'
# Cascade R-CNN has three bbox heads (a list): a list in a config replaces the base's list, so
# give all three, each the base's head with the new number of classes
model = dict(roi_head=dict(
    bbox_head=[dict(head, num_classes=2) for head in _base_.model.roi_head.bbox_head],
    mask_head=dict(num_classes=2)))
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes),
                                     ann_file='annotations/train.json',
                                     data_prefix=dict(img='images/')))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes),
                                   ann_file='annotations/val.json',
                                   data_prefix=dict(img='images/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
