"""Activation maps of a layer (figures 5 and 11): the mean absolute activation
over its channels, for one model or a model and its twin side by side; one
PNG per image.

    python tools/analysis/activation_maps.py CONFIG CHECKPOINT --out-dir DIR
        [--compare CONFIG2 CHECKPOINT2] [--layer NAME]
        [--img PATH ... | --split {train,val,test}] [--num-images N]
        [--cfg-options k=v ...] [--device cpu]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import padseg  # noqa: E402,F401  (registers PAD models)
from padseg.analysis import activation_map, preprocess  # noqa: E402
from padseg.apis.analysis_cli import (add_compare_arguments,  # noqa: E402
                                 add_config_arguments, add_image_arguments,
                                 layer_from_args, models_from_args,
                                 samples_from_args)
from padseg.analysis.visualize import activation_figure  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_compare_arguments(parser)
    parser.add_argument('--out-dir', required=True, help='folder of the PNGs')
    add_image_arguments(parser, num_images=4)
    add_config_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    models = models_from_args(args)
    layer = layer_from_args(args, models)
    os.makedirs(args.out_dir, exist_ok=True)
    paths = []
    for sample in samples_from_args(models[0].cfg, args):
        maps = {}
        for loaded in models:
            inputs = preprocess(loaded.model, sample)
            maps[loaded.title] = activation_map(loaded.model, inputs,
                                                layer)[0]
        figure = activation_figure(sample.image, maps,
                                   tuple(inputs.shape[-2:]), layer)
        path = osp.join(args.out_dir, f'{sample.name}.png')
        figure.savefig(path)
        paths.append(path)
        print(path + ': mean |activation| ' + ', '.join(
            f'{title} {m.mean().item():.4g}' for title, m in maps.items()))
    return paths


if __name__ == '__main__':
    main()
