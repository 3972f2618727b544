"""The convolutions of a config's backbone, by the names ``PADBackbone``'s
``pad_layers`` patterns match, and which of them can become PAD layers.

    python tools/analysis/pad_candidates.py CONFIG [--all]
        [--cfg-options k=v ...]

A ``PADBackbone`` config lists its backbone with the PAD layers it already
has marked. Only kxk convolutions (k >= 3) are listed unless ``--all``. The
first line names the default placement: the layers ``PADBackbone`` turns
into PAD layers when ``pad_layers`` is not given
(``padseg/models/placement.py``).
"""
import argparse
import copy
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import padseg  # noqa: E402,F401  (registers PAD models)
from mmengine.registry import MODELS, init_default_scope  # noqa: E402
from torch import nn  # noqa: E402

from padseg.apis.analysis_cli import read_config  # noqa: E402
from padseg.models.placement import default_pad_layers  # noqa: E402
from padseg.models.utils import pad_conv_like  # noqa: E402
from padseg.ops import PADConv2d  # noqa: E402
from padseg.registry import task_scope  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--all', action='store_true',
                        help='also 1x1 and other non-PAD convolutions')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='k=v options for the config')
    return parser.parse_args(argv)


def why_not_pad(conv: nn.Conv2d) -> str:
    """'' when ``conv`` can become a PAD layer, else the reason: the layer's
    own checks (padseg.models.utils.pad_conv_like), asked, not repeated."""
    try:
        pad_conv_like(conv, {})
    except ValueError as error:
        return str(error)
    return ''


def main(argv=None):
    args = parse_args(argv)
    cfg = read_config(args.config, args.cfg_options)
    init_default_scope(task_scope(cfg))
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    backbone = MODELS.build(copy.deepcopy(backbone_cfg))
    print(f'# {type(backbone).__name__} of {args.config}')
    wrapped = backbone_cfg.get('type') == 'PADBackbone'
    plain = (MODELS.build(copy.deepcopy(backbone_cfg['backbone']))
             if wrapped else backbone)
    label = ('pad_layers not given' if wrapped and
             backbone_cfg.get('pad_layers') is None else
             'PADBackbone without pad_layers')
    try:
        default = ', '.join(default_pad_layers(plain))
    except ValueError as error:
        default = f'none ({error})'
    print(f'# default placement ({label}): {default}')
    print('| name | kernel | stride | dilation | groups | PAD? |')
    print('|---|---|---|---|---|---|')
    for name, module in backbone.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if not args.all and min(module.kernel_size) < 3:
            continue
        verdict = ('PAD layer' if isinstance(module, PADConv2d) else
                   why_not_pad(module) or 'can be')
        print(f'| {name} | {tuple(module.kernel_size)} | '
              f'{tuple(module.stride)} | {tuple(module.dilation)} | '
              f'{module.groups} | {verdict} |')


if __name__ == '__main__':
    main()
