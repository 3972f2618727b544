# DeepLabV3+ (Chen et al. 2018) on aligned Xception-65 at output stride 16
# (paper, Table 8): ASPP rates (6, 12, 18) on the exit flow (2048 channels),
# decoder on the first entry block (128 channels, stride 4). "No BN
# fine-tuning": the backbone's BN layers keep the ImageNet statistics and
# affine parameters (norm_eval, requires_grad=False). ImageNet weights: timm's
# xception65.tf_in1k (the TF DeepLab checkpoint), loaded by Xception65.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5, 127.5, 127.5],  # timm/TF Inception normalisation to [-1, 1]
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='Xception65',
        output_stride=16,
        out_indices=(0, 4),
        norm_cfg=dict(type='BN', eps=1e-3, requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://huggingface.co/timm/xception65.tf_in1k/'
            'resolve/main/pytorch_model.bin')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=2048,
        in_index=1,
        channels=512,
        dilations=(1, 6, 12, 18),
        c1_in_channels=128,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
