# MobileNetV2 1.0 classifier (Sandler et al.), mmpretrain's: the seven
# inverted residual stages (output stride 32), the final 1x1 conv to 1280
# channels (``conv2``), pooled, and a linear classifier: 3.5M parameters with
# 1000 classes (Table 6). Under the mmpretrain scope padseg's
# ``PADMobileNetV2`` extends this network, so mmpretrain's ImageNet checkpoint
# loads whole into both.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2', widen_factor=1.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
