# MobileNetV2 1.0 classifier on mmseg's MobileNetV2, the network padseg's
# PADMobileNetV2 extends: classification strides (1, 2, 2, 2, 1, 2, 1) (output
# stride 32), pooled 320-channel layer7 and a linear classifier. mmseg's
# backbone ends at layer7: it has no final 1x1 conv to 1280 channels of
# Sandler et al. (mmpretrain's ``conv2``), so a checkpoint's ``conv2`` is
# reported unexpected (see docs/classification.md). out_indices names two
# stages because mmseg's MobileNetV2 returns a bare tensor, not a tuple, for a
# single one; the head classifies the last (layer7).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmseg.MobileNetV2',
        widen_factor=1.0,
        strides=(1, 2, 2, 2, 1, 2, 1),
        out_indices=(5, 6)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=320,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
