"""Generate the multi-scale digits dataset (no download) in a real layout.

Examples:
    python tools/dataset_converters/make_digits.py --out data/VOCdevkit \
        --layout voc --num-train 1000 --num-val 200
    python tools/dataset_converters/make_digits.py --out data/cityscapes \
        --layout cityscapes --num-train 500 --num-val 100 --size 256 512
    python tools/dataset_converters/make_digits.py --out data/digits_cls \
        --layout cls --num-train 5000 --num-val 1000 --size 64 64
"""
import argparse
from typing import List, Optional

from digits_scenes import (make_digits_cityscapes,
                           make_digits_classification, make_digits_voc)

MAKERS = dict(
    voc=make_digits_voc,
    cityscapes=make_digits_cityscapes,
    cls=make_digits_classification)


def parse_args(args: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the multi-scale digits dataset')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--layout',
        choices=sorted(MAKERS),
        default='voc',
        help='voc: Pascal VOC 2012 (root/VOC2012/...); cityscapes: '
        'leftImg8bit + gtFine; cls: mmpretrain CustomDataset folders')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='image size (default: 128 128 voc, 128 256 cityscapes, '
        '64 64 cls)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--scale-range',
        type=float,
        nargs=2,
        metavar=('LOW', 'HIGH'),
        help='upscaling factor range of the 8x8 digits (default: 2 12)')
    parser.add_argument(
        '--digits-per-image',
        type=int,
        nargs=2,
        metavar=('MIN', 'MAX'),
        help='number of digits per image, voc/cityscapes (default: 1 4)')
    parser.add_argument(
        '--ignore-edges',
        action='store_true',
        help='label the soft rims of the digits 255 (voc/cityscapes)')
    parsed = parser.parse_args(args)
    if parsed.layout == 'cls' and (parsed.digits_per_image
                                   or parsed.ignore_edges):
        parser.error('--digits-per-image and --ignore-edges are for the '
                     'segmentation layouts')
    return parsed


def main(args: Optional[List[str]] = None) -> None:
    opts = parse_args(args)
    kwargs = dict(
        image_size=opts.size,
        seed=opts.seed,
        scale_range=opts.scale_range,
        digits_per_image=opts.digits_per_image,
        ignore_edges=opts.ignore_edges or None)
    # Options left out keep the defaults of the function.
    kwargs = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in kwargs.items() if v is not None
    }
    written = MAKERS[opts.layout](opts.out, opts.num_train, opts.num_val,
                                  **kwargs)
    for split, names in written.items():
        print(f'{opts.layout} {split}: {len(names)} images in {opts.out}')


if __name__ == '__main__':
    main()
