"""Convert a timm ``xception65`` checkpoint for padseg's Xception65.

    python tools/model_converters/xception2padseg.py SRC DST

SRC is a timm checkpoint (``.pth``/``.bin``, or ``.safetensors`` when the
safetensors package is installed); DST is a ``.pth`` that
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` loads. padseg also loads a
timm ``.pth`` directly; this tool reads safetensors and drops the classifier.
"""
from padseg.apis.converters import converter_main
from padseg.models.backbones.xception import convert_timm_xception


def main(argv=None):
    converter_main(__doc__, convert_timm_xception, argv)


if __name__ == '__main__':
    main()
