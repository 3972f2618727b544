# A CPU-sized FCN in the paper's regime (Tables 1-3: FCN without a context
# module): the digits' ResNetV1c-18 at a quarter width, output stride 8
# (deeplabv3plus_r18w16-os8_digits.py), with an FCNHead of 1x1 convolutions
# only in place of DeepLabV3+ (no ASPP, no PPM, no 3x3 conv in the head).
# layer3 and layer4 run at stride 8 and are not dilated, so the receptive
# field that reaches an object's outline comes from the backbone alone, and
# the dilation of layer4 (fixed, or chosen per pixel by PAD in the PAD twin)
# sets it.
_base_ = './deeplabv3plus_r18w16-os8_digits.py'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    decode_head=dict(
        _delete_=True,
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
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
