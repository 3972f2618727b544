"""Dilation statistics of every PAD layer over a dataset split (table 1).

Prints per layer the mean expected dilation, sigma^2(d_ij) (the variance of
the drawn dilation over images, pixels and draws) with its sampling and
spatial parts, and the share of pixels per evaluation choice; the last row is
the model (mean over layers). Definitions: docs/analysis.md.

    python tools/analysis/dilation_variance.py CONFIG CHECKPOINT
        [--split {train,val,test}] [--num-images N | --img PATH ...]
        [--out FILE.json] [--cfg-options k=v ...] [--device cpu]
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import padseg  # noqa: E402,F401  (registers PAD models)
from padseg.analysis import (DilationStatistics, load_model,  # noqa: E402
                             preprocess, record_priors, run_model)
from padseg.apis.analysis_cli import (add_config_arguments,  # noqa: E402
                                 add_image_arguments, read_config,
                                 samples_from_args)
from padseg.ops import pad_layers  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', help='also write the statistics as JSON')
    add_image_arguments(parser, num_images=None)
    add_config_arguments(parser)
    return parser.parse_args(argv)


def format_table(summary: dict) -> str:
    """The summary as a Markdown table."""
    lines = [
        '| layer | candidates | mean d | sigma^2(d) | sampling | spatial | '
        'argmax share |', '|---|---|---|---|---|---|---|'
    ]
    for name, stats in summary.items():
        if name == 'model':
            candidates = shares = ''
        else:
            candidates = ', '.join(map(str, stats['candidates']))
            shares = ', '.join(f'{s:.2f}' for s in stats['selected_share'])
        lines.append(
            f"| {name} | {candidates} | {stats['mean']:.4g} | "
            f"{stats['variance']:.4g} | {stats['sampling_variance']:.4g} | "
            f"{stats['spatial_variance']:.4g} | {shares} |")
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    cfg = read_config(args.config, args.cfg_options)
    model = load_model(cfg, args.checkpoint, args.device)
    layers = dict(pad_layers(model))
    if not layers:
        raise ValueError(f'{args.config} builds a model without PAD layers')
    stats = DilationStatistics(layers)
    samples = samples_from_args(cfg, args)
    for sample in samples:
        with record_priors(model) as priors, torch.no_grad():
            run_model(model, preprocess(model, sample))
        stats.update(priors)
    summary = stats.summary()
    print(f'{len(samples)} images\n' + format_table(summary))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           num_images=len(samples), layers=summary), f,
                      indent=2)
    return summary


if __name__ == '__main__':
    main()
