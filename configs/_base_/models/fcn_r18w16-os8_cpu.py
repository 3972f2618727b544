# A CPU-sized FCN in the paper's regime (Tables 1-3: FCN without a context
# module): ResNetV1c-18 at a quarter of the usual width, output stride 8,
# and an FCNHead of 1x1 convolutions only (no ASPP, no PPM, no 3x3 conv in
# the head). layer3 and layer4 run at stride 8 and are not dilated, so the
# receptive field that reaches an object's outline comes from the backbone
# alone, and the dilation of layer4 (fixed, or chosen per pixel by PAD in the
# PAD twin) decides it.
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
        type='FCNHead',
        in_channels=128,
        in_index=3,
        channels=64,
        num_convs=1,
        kernel_size=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=4,
        norm_cfg=norm_cfg,
        align_corners=False,
        # PyTorch's default classifier scale, as the digits' DeepLabV3+
        # (trained from scratch, mmseg's N(0, 0.01) passes almost no class
        # signal back in a short CPU schedule).
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
