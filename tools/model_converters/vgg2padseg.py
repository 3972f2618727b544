"""Convert torchvision VGG weights to padseg's FCNVGG/PADVGG layout.

torchvision's ``vgg11`` ... ``vgg19`` and their ``_bn`` forms are supported;
the ImageNet classifier's fc6/fc7 become the 7x7 and 1x1 convs of FCN and fc8
is dropped. FCNVGG also loads the torchvision file directly through
``init_cfg=dict(type='Pretrained', checkpoint=...)``; a converted file saves
that step and loads strictly.

Example:
    python tools/model_converters/vgg2padseg.py \\
        vgg16-397923af.pth pretrain/vgg16_padseg.pth
"""
from padseg.apis.converters import converter_main
from padseg.models.backbones.vgg import convert_torchvision_vgg


def main(argv=None):
    converter_main(__doc__, convert_torchvision_vgg, argv)


if __name__ == '__main__':
    main()
