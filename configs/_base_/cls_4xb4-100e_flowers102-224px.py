# The Mona paper's classification recipe on Oxford Flowers102 (102 classes): trained on train+val
# (2,040 images; the official list is unpublished), evaluated on test (6,149). mmpretrain's
# Flowers102 layout under data_root: jpg/image_XXXXX.jpg, imagelabels.mat, setid.mat.
_base_ = './cls_4xb4-100e-224px.py'
data_root = 'data/flowers102/'
model = dict(data_preprocessor=dict(num_classes=102), head=dict(num_classes=102))
train_dataloader = dict(dataset=dict(type='Flowers102', data_root=data_root, split='trainval'))
val_dataloader = dict(dataset=dict(type='Flowers102', data_root=data_root, split='test'))
test_dataloader = val_dataloader
