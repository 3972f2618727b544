"""Generate the multi-scale shapes dataset (no download) in the Pascal VOC
layout that ``configs/shapes/`` read.

Example:
    python tools/dataset_converters/make_shapes.py --out data/shapes_voc \
        --num-train 400 --num-val 100
"""
import argparse
from typing import List, Optional

from shapes_scenes import CLASS_BY, SCENES, make_shapes_voc


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--num-test', type=int, default=0,
                        help='images of a third split, test.txt (default: '
                        'none)')
    parser.add_argument(
        '--scene', choices=tuple(SCENES), default='shapes',
        help="'shapes' (one to five shapes of 6-90 px; the default) or "
        "'nested' (large rings with small rings of other colours inside, "
        'class = colour; --outline and --class-by do not apply)')
    parser.add_argument('--size', type=int, nargs=2, default=(96, 96),
                        metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--outline', type=int, default=None, metavar='PIXELS',
        help='draw each shape as a band of this width along its edge (its '
        'inside shows the background; the label covers the whole shape)')
    parser.add_argument(
        '--class-by', choices=CLASS_BY, default='shape',
        help="what tells a shape's class: its outline (disk, square, "
        "triangle; the default) or its colour (red, green, blue)")
    args = parser.parse_args(argv)
    options = dict(outline=args.outline, class_by=args.class_by)
    if args.scene == 'nested':
        if args.outline is not None or args.class_by != 'shape':
            parser.error('--outline and --class-by do not apply to '
                         '--scene nested (2 px bands, class = colour)')
        options = {}
    ids = make_shapes_voc(args.out, args.num_train, args.num_val,
                          tuple(args.size), args.seed, args.num_test,
                          args.scene, **options)
    for split, names in ids.items():
        print(f'{split}: {len(names)} images')


if __name__ == '__main__':
    main()
