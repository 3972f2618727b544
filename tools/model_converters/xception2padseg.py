"""Convert a timm ``xception65`` checkpoint for padseg's Xception65.

    python tools/model_converters/xception2padseg.py SRC DST

SRC is a timm checkpoint (``.pth``/``.bin``, or ``.safetensors`` when the
safetensors package is installed); DST is a ``.pth`` that
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` loads. padseg also loads a
timm ``.pth`` directly; this tool reads safetensors and drops the classifier.
"""
import argparse
import os.path as osp

import torch
from mmengine.runner import CheckpointLoader
from mmengine.utils import mkdir_or_exist

from padseg.engine.checkpoint import install_checkpoint_guards
from padseg.models.backbones.xception import convert_timm_xception


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='timm xception65 checkpoint')
    parser.add_argument('dst', help='output .pth for padseg')
    args = parser.parse_args()
    install_checkpoint_guards()
    if args.src.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise SystemExit('reading .safetensors needs '
                             '`pip install safetensors`')
        checkpoint = load_file(args.src)
    else:
        checkpoint = CheckpointLoader.load_checkpoint(
            args.src, map_location='cpu')
    mkdir_or_exist(osp.dirname(osp.abspath(args.dst)))
    torch.save(convert_timm_xception(checkpoint), args.dst)


if __name__ == '__main__':
    main()
