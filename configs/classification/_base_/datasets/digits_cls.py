# The embedded classification dataset: one handwritten digit (sklearn's UCI
# digits, x2-x8) per 64x64 textured image, in mmpretrain's CustomDataset folder
# layout (data/digits_cls/{train,val}/<digit>/*.png), written by
#   python tools/dataset_converters/make_digits.py --layout cls \
#       --out data/digits_cls --num-train 3000 --num-val 500 --size 64 64
# No flips: a mirrored digit is not the same digit.
dataset_type = 'CustomDataset'
data_root = 'data/digits_cls'
data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
