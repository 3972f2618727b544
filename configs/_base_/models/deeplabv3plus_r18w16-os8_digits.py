# A CPU-sized DeepLabV3+ for the embedded digits dataset: ResNetV1c-18 at a
# quarter of the usual width, output stride 8, BN (single process). layer3 and
# layer4 are not dilated: on 96x96 images their maps are 12x12, and the only
# way this network widens its receptive field there is ASPP, or PAD's
# candidate dilations (1, 2, 4) in the PAD twin.
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(96, 96))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=16,
        base_channels=16,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=False),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=128,
        in_index=3,
        channels=64,
        dilations=(1, 2, 4, 6),
        c1_in_channels=16,
        c1_channels=16,
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=False,
        # The classifier starts at PyTorch's default (Kaiming-uniform) scale,
        # not mmseg's N(0, 0.01): trained from scratch, a near-zero classifier
        # passes almost no class signal back to the backbone, and in the short
        # CPU schedule the network then learns digit vs background but never
        # which digit (measured: about chance-level digit accuracy after 1,200
        # iterations with N(0, 0.01), see docs/main_job.md).
        init_cfg=dict(
            type='Kaiming',
            a=5**0.5,
            mode='fan_in',
            nonlinearity='leaky_relu',
            distribution='uniform',
            override=dict(name='conv_seg')),
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
