# DeepLabV3+ (Chen et al. 2018) on DRN-D-54 (Yu et al. 2017) at output stride
# 16 (paper, Table 8): ASPP rates (6, 12, 18) on layer8 (512 channels),
# decoder on layer3 (256 channels, stride 4). ImageNet weights: the reference
# checkpoint of github.com/fyu/drn (also mirrored at
# https://tigress-web.princeton.edu/~fy/drn/models/), loaded as it is by DRN.
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
        type='DRN',
        arch='D',
        depth=54,
        output_stride=16,
        out_indices=(2, 7),  # layer3, layer8
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='http://dl.yf.io/drn/drn_d_54-0e0534ff.pth')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=512,
        in_index=1,
        channels=512,
        dilations=(1, 6, 12, 18),
        c1_in_channels=256,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
