"""Per-pixel dilations of every PAD layer, drawn over the input image.

For each image one PNG: per PAD layer the expected dilation and the argmax
choice (what evaluation uses), in the layer's actual dilations. See
docs/analysis.md.

    python tools/analysis/dilation_maps.py CONFIG CHECKPOINT --out-dir DIR
        [--img PATH ... | --split {train,val,test}] [--num-images N]
        [--cfg-options k=v ...] [--device cpu]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import padseg  # noqa: E402,F401  (registers PAD models)
from padseg.analysis import load_model  # noqa: E402
from padseg.apis.analysis_cli import (add_config_arguments,  # noqa: E402
                                 add_image_arguments, read_config,
                                 samples_from_args)
from padseg.analysis.visualize import draw_dilation_maps  # noqa: E402
from padseg.ops import pad_layers  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', required=True, help='folder of the PNGs')
    add_image_arguments(parser, num_images=4)
    add_config_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = read_config(args.config, args.cfg_options)
    model = load_model(cfg, args.checkpoint, args.device)
    if not any(True for _ in pad_layers(model)):
        raise ValueError(f'{args.config} builds a model without PAD layers')
    os.makedirs(args.out_dir, exist_ok=True)
    for sample in samples_from_args(cfg, args):
        path = osp.join(args.out_dir, f'{sample.name}.png')
        draw_dilation_maps(model, sample).savefig(path)
        print(path)


if __name__ == '__main__':
    main()
