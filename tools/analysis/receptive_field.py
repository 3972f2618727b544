"""Theoretical and effective receptive fields of a layer (figure 3), for one
model or a model and its twin side by side.

Theoretical RF: the input pixels the chosen output unit depends on, with every
PAD layer frozen to the dilations it used on the first image. Effective RF
(Luo et al., 2016): mean |gradient| of that unit with respect to the input
over N images. Writes receptive_field.png and receptive_field.json (RF area
and box, ERF radii holding 50 % and 95 % of the gradient mass).

    python tools/analysis/receptive_field.py CONFIG CHECKPOINT --out-dir DIR
        [--compare CONFIG2 CHECKPOINT2] [--layer NAME] [--pixel Y X]
        [--img PATH ... | --split {train,val,test}] [--num-images N]
        [--cfg-options k=v ...] [--device cpu]
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import padseg  # noqa: E402,F401  (registers PAD models)
from padseg.analysis import (effective_receptive_field,  # noqa: E402
                             erf_centre, erf_radius, layer_output, preprocess,
                             receptive_field_extent,
                             theoretical_receptive_field)
from padseg.apis.analysis_cli import (add_compare_arguments,  # noqa: E402
                                 add_config_arguments, add_image_arguments,
                                 layer_from_args, models_from_args,
                                 samples_from_args)
from padseg.analysis.visualize import receptive_field_figure  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_compare_arguments(parser)
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--pixel', nargs=2, type=int, metavar=('Y', 'X'),
        help='input pixel whose output unit is analysed (default: centre)')
    add_image_arguments(parser, num_images=8)
    add_config_arguments(parser)
    return parser.parse_args(argv)


def network_inputs(model, samples):
    """One input per sample, all at the size of the first (bilinear)."""
    inputs = [preprocess(model, sample) for sample in samples]
    size = inputs[0].shape[-2:]
    return [x if x.shape[-2:] == size else F.interpolate(
        x, size=size, mode='bilinear', align_corners=False) for x in inputs]


def main(argv=None):
    args = parse_args(argv)
    models = models_from_args(args)
    layer = layer_from_args(args, models)
    samples = samples_from_args(models[0].cfg, args)
    entries, results = [], []
    for loaded in models:
        inputs = network_inputs(loaded.model, samples)
        height, width = inputs[0].shape[-2:]
        with torch.no_grad():
            out_h, out_w = layer_output(loaded.model, inputs[0],
                                        layer).shape[-2:]
        if args.pixel is None:
            unit = (out_h // 2, out_w // 2)
        else:
            y, x = args.pixel
            if not (0 <= y < height and 0 <= x < width):
                raise ValueError(f'--pixel {y} {x} is outside the input '
                                 f'{height}x{width}')
            unit = (y * out_h // height, x * out_w // width)
        rf = theoretical_receptive_field(loaded.model, inputs[0], layer, unit)
        erf = effective_receptive_field(loaded.model, inputs, layer, unit)
        result = dict(model=loaded.title, layer=layer, unit=list(unit),
                      input_size=[int(height), int(width)],
                      num_images=len(inputs), **receptive_field_extent(rf),
                      erf_r50=erf_radius(erf, 0.5),
                      erf_r95=erf_radius(erf, 0.95))
        results.append(result)
        entries.append(dict(
            result, title=loaded.title, rf=rf, erf=erf,
            erf_centre=erf_centre(erf),
            unit_centre=((unit[0] + 0.5) * height / out_h,
                         (unit[1] + 0.5) * width / out_w)))
        print(f"{loaded.title}: {layer} unit {unit}: RF {result['area']} px "
              f"({result['height']}x{result['width']}), ERF r50 "
              f"{result['erf_r50']:.1f} px, r95 {result['erf_r95']:.1f} px "
              f'over {len(inputs)} images')
    os.makedirs(args.out_dir, exist_ok=True)
    figure = receptive_field_figure(samples[0].image, entries,
                                    (int(height), int(width)))
    figure.savefig(osp.join(args.out_dir, 'receptive_field.png'))
    with open(osp.join(args.out_dir, 'receptive_field.json'), 'w') as f:
        json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
