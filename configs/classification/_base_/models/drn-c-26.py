# DRN-C-26 classifier (Yu et al. 2017, fyu/drn): output stride 8, global
# average pooling of the 512-channel layer8 (28x28 at 224) and a linear
# classifier, the reference's 1x1 conv ``fc`` on the pooled map.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='DRN', arch='C', depth=26, output_stride=8, out_indices=(7, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
