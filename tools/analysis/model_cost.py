"""Parameters, parameters added by PAD and FLOPs of configs (table 6).

Any MMSeg or MMPretrain config (the task follows ``default_scope``); several
configs print one table. Weights are random: costs do not depend on them.
FLOPs are MMEngine's count (one multiply-add = one FLOP) for one input of
``--shape`` (default: the config's ``crop_size``, else its data
preprocessor's ``size``, else 224x224); a PAD layer counts its D candidate
convolutions and its 1x1 prior conv.

    python tools/analysis/model_cost.py CONFIG [CONFIG ...] [--shape H W]
        [--cfg-options k=v ...]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import padseg  # noqa: E402,F401  (registers PAD models)
from padseg.analysis import load_model, model_cost  # noqa: E402
from padseg.apis.analysis_cli import add_config_arguments, read_config  # noqa: E402

DEFAULT_SHAPE = (224, 224)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument(
        '--shape', nargs=2, type=int, metavar=('H', 'W'),
        help='input size (default: crop_size, else the data preprocessor '
        'size, else 224 224)')
    add_config_arguments(parser)
    return parser.parse_args(argv)


def _millions(count: float) -> str:
    return f'{count / 1e6:.3f}M'


def main(argv=None):
    args = parse_args(argv)
    lines = ['| config | input | p# | Δp# (PAD) | Δp#/p# (%) | FLOPs |',
             '|---|---|---|---|---|---|']
    results = []
    for config in args.configs:
        cfg = read_config(config, args.cfg_options)
        shape = tuple(args.shape or cfg.get('crop_size') or cfg.model.get(
            'data_preprocessor', {}).get('size') or DEFAULT_SHAPE)
        cost = model_cost(load_model(cfg, None, args.device), shape)
        results.append(dict(config=config, shape=list(shape), **cost))
        lines.append(
            f"| {osp.splitext(osp.basename(config))[0]} | "
            f"{shape[0]}x{shape[1]} | {_millions(cost['params'])} | "
            f"{cost['pad_params']:,} | {cost['pad_percent']:.4f} | "
            f"{cost['flops'] / 1e9:.3f}G |")
    print('\n'.join(lines))
    return results


if __name__ == '__main__':
    main()
