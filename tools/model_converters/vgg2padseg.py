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
import argparse
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.utils import mkdir_or_exist

from padseg.engine.checkpoint import install_checkpoint_guards
from padseg.models.backbones.vgg import convert_torchvision_vgg


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a torchvision VGG checkpoint to padseg keys')
    parser.add_argument('src', help='torchvision checkpoint (path or URL)')
    parser.add_argument('dst', help='where to save the converted checkpoint')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    install_checkpoint_guards()
    checkpoint = CheckpointLoader.load_checkpoint(args.src, map_location='cpu')
    state_dict = convert_torchvision_vgg(
        checkpoint.get('state_dict', checkpoint))
    mkdir_or_exist(osp.dirname(osp.abspath(args.dst)))
    torch.save(state_dict, args.dst)
    print(f'saved {len(state_dict)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
