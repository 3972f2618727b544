"""Convert a torchvision MobileNetV2 checkpoint to mmseg/mmpretrain key names.

    python tools/model_converters/mobilenetv2_torchvision2padseg.py \
        mobilenet_v2-b0353104.pth pretrain/mobilenet_v2_torchvision.pth

The result loads into padseg's PADMobileNetV2 and mmseg's MobileNetV2 with
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` (PADMobileNetV2 also
converts a torchvision checkpoint by itself when given one directly).
"""
import argparse
import os.path as osp

import mmengine
import torch
from mmengine.runner import CheckpointLoader

from padseg.engine.checkpoint import install_checkpoint_guards
from padseg.models.backbones.mobilenet_v2 import \
    convert_torchvision_mobilenet_v2


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Convert keys of a torchvision MobileNetV2 checkpoint to '
        'the mmseg/mmpretrain MobileNetV2 layout.')
    parser.add_argument('src', help='torchvision checkpoint path or url')
    parser.add_argument('dst', help='save path')
    args = parser.parse_args()
    install_checkpoint_guards()

    checkpoint = CheckpointLoader.load_checkpoint(args.src, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    mmengine.mkdir_or_exist(osp.dirname(osp.abspath(args.dst)))
    torch.save(convert_torchvision_mobilenet_v2(state_dict), args.dst)


if __name__ == '__main__':
    main()
