# FCN-32s (Long et al. 2015) on VGG-16: conv1_1 pads the image by 100 pixels,
# fc6/fc7 are ImageNet's classifier as 7x7 and 1x1 convs, fc7 is scored and
# upsampled x32 by a fixed bilinear deconvolution, then cropped to the image.
# ImageNet weights: torchvision's vgg16 (converted on loading by FCNVGG).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=1,  # whole images one at a time: no padding
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='FCNVGG',
        depth=16,
        input_padding=100,
        out_indices=(5, ),  # fc7
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'vgg16-397923af.pth')),
    decode_head=dict(
        type='FCN32sHead',
        in_channels=4096,
        input_padding=100,
        num_classes=21,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
