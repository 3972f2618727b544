# DeepLabV3+ (Chen et al. 2018) on MobileNetV2 at output stride 16 (paper,
# Table 8): the 160- and 320-channel stages keep stride 1 and are dilated by 2
# (MMSeg's MobileNetV2 dilates the first block of a stage), ASPP rates
# (6, 12, 18) on the 320-channel output, decoder on layer2 (24 channels,
# stride 4). "No BN fine-tuning": the backbone's BN layers keep the ImageNet
# statistics and affine parameters (norm_eval, requires_grad=False). ImageNet
# weights: mmpretrain's mobilenet-v2_8xb32_in1k classifier (its "backbone.").
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='MobileNetV2',
        widen_factor=1.,
        strides=(1, 2, 2, 2, 1, 1, 1),
        dilations=(1, 1, 1, 1, 1, 2, 2),
        out_indices=(1, 6),
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'mobilenet_v2/mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth'
        )),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=320,
        in_index=1,
        channels=512,
        dilations=(1, 6, 12, 18),
        c1_in_channels=24,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
