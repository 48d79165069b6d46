# The Mona paper's classification recipe on Oxford-IIIT Pet (37 breeds): trained on trainval
# (3,680 images), evaluated on test (3,669). mmpretrain's OxfordIIITPet layout under data_root:
# images/<Breed>_<n>.jpg, annotations/{trainval,test}.txt.
_base_ = './cls_4xb4-100e-224px.py'
data_root = 'data/Oxford-IIIT_Pets/'
model = dict(data_preprocessor=dict(num_classes=37), head=dict(num_classes=37))
train_dataloader = dict(
    dataset=dict(type='OxfordIIITPet', data_root=data_root, split='trainval'))
val_dataloader = dict(dataset=dict(type='OxfordIIITPet', data_root=data_root, split='test'))
test_dataloader = val_dataloader
