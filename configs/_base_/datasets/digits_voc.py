# The embedded default dataset: multi-scale handwritten digits (sklearn's UCI
# digits, x2-x12) on textured backgrounds, written in the Pascal VOC layout by
# `python tools/dataset_converters/make_digits.py --layout voc --out data/digits_voc`
# and read by mmseg's own PascalVOCDataset code (DigitsVOCDataset only swaps
# its class names for the 11 digit classes).
dataset_type = 'DigitsVOCDataset'  # PascalVOCDataset with the 11 digit classes
data_root = 'data/digits_voc/VOC2012'
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='SafeLoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='SafeLoadAnnotations'),
    dict(type='PackSegInputs')
]
tta_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='RandomFlip', prob=0., direction='horizontal'),
            dict(type='RandomFlip', prob=1., direction='horizontal')
        ], [dict(type='SafeLoadAnnotations')], [dict(type='PackSegInputs')]])
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
