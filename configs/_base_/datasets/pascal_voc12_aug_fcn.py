# VOC 2012 trainaug the FCN way (paper, Table 8: "no augmentation or image
# pre-processing or post-processing"): whole images at their own size (at most
# 500x500), one per batch, no resizing, cropping, flipping or colour jitter,
# and evaluation at the original size. Only the mean/std normalisation of the
# ImageNet weights (the model's data_preprocessor) remains.
_base_ = './pascal_voc12_aug.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=1,
    dataset=dict(datasets=[
        dict(dataset, pipeline=train_pipeline)
        for dataset in _base_.train_dataloader.dataset.datasets
    ]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
