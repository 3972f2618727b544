"""Does each PAD layer choose larger dilations on larger objects?

Per PAD layer, Spearman's rank correlation between each pixel's expected
dilation and the square root of the area of the ground-truth object under it
(a connected region of one class), over the images of a labelled split, and
the mean expected dilation on the smallest and the largest third of the
pixels by object size. Works on any mmseg dataset with labels (VOC,
Cityscapes, the embedded sets). See docs/analysis.md.

    python tools/analysis/size_correlation.py CONFIG CHECKPOINT
        [--split val] [--num-images 50] [--exclude-classes 0 ...]
        [--out FILE.json] [--cfg-options k=v ...] [--device cpu]
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import padseg  # noqa: E402,F401  (registers PAD models)
from padseg.analysis import (load_model, load_samples,  # noqa: E402
                             size_correlation)
from padseg.apis.analysis_cli import (add_config_arguments,  # noqa: E402
                                      read_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', choices=('train', 'val', 'test'),
                        default='val',
                        help='a split with labels (default: val)')
    parser.add_argument('--num-images', type=int, default=50,
                        help='first N images of the split (default: 50)')
    parser.add_argument('--exclude-classes', type=int, nargs='*', default=[],
                        help="classes that are no object (e.g. VOC's "
                        'background, 0)')
    parser.add_argument('--max-pixels', type=int, default=4096,
                        help='pixels kept per image (default: 4096)')
    parser.add_argument('--out', help='also write the results as JSON')
    add_config_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.num_images <= 0:
        raise ValueError(f'--num-images must be > 0, got {args.num_images}')
    cfg = read_config(args.config, args.cfg_options)
    model = load_model(cfg, args.checkpoint, args.device)
    samples = load_samples(cfg, args.split, args.num_images)
    head = cfg.model.get('decode_head') or {}
    if isinstance(head, (list, tuple)):  # cascade heads: the first one's
        head = head[0]
    ignore_index = head.get('ignore_index', 255)
    results = size_correlation(model, samples, ignore_index,
                               args.exclude_classes, args.max_pixels)
    print(f'# {len(samples)} {args.split} images; rho > 0: larger objects, '
          'larger dilations')
    print('| layer | Spearman rho | mean E[d], smallest third | '
          'largest third | pixels |')
    print('|---|---|---|---|---|')
    for name, r in results.items():
        print(f"| {name} | {r['rho']:.3f} | {r['small_objects']:.2f} | "
              f"{r['large_objects']:.2f} | {r['pixels']} |")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
