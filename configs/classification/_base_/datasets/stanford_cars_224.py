# Stanford Cars (Krause et al. 2013; 196 classes, 8144 train / 8041 test), the
# default protocol of Table 7: train on 'train', report top-1 on 'test'.
# Pre-processing of the DLA fine-grained scheme (Yu et al. 2018, ucbdrive/dla
# classify.py): random-resized crops and flips for training, resize the short
# side to crop * 8 / 7 and centre crop for testing.
# Layout read by mmpretrain's StanfordCars: data/stanford_cars/ with either
#   cars_train/, cars_test/, devkit/cars_train_annos.mat,
#   devkit/cars_test_annos_withlabels.mat       (the devkit download), or
#   car_ims/, cars_annos.mat                    (the all-in-one download).
dataset_type = 'StanfordCars'
data_root = 'data/stanford_cars'
data_preprocessor = dict(
    num_classes=196,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
