"""Convert a torchvision MobileNetV2 checkpoint to mmseg/mmpretrain key names.

    python tools/model_converters/mobilenetv2_torchvision2padseg.py \
        mobilenet_v2-b0353104.pth pretrain/mobilenet_v2_torchvision.pth

The result loads into padseg's PADMobileNetV2 and mmseg's MobileNetV2 with
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` (PADMobileNetV2 also
converts a torchvision checkpoint by itself when given one directly).
"""
from padseg.apis.converters import converter_main
from padseg.models.backbones.mobilenet_v2 import convert_torchvision_mobilenet_v2


def main(argv=None):
    converter_main(__doc__, convert_torchvision_mobilenet_v2, argv)


if __name__ == '__main__':
    main()
