"""Segment images with a config and checkpoint (mmseg's ``MMSegInferencer``)
and, for a model with PAD layers, draw its per-layer dilation maps beside
the result.

    python tools/image_demo.py IMG_OR_FOLDER CONFIG [CHECKPOINT]
        --out-dir DIR [--device cpu] [--opacity 0.5] [--with-labels]
        [--cfg-options k=v ...]

For every image (a file, or the images of a folder, with a progress bar):

* ``DIR/<name>.png``: the predicted segmentation over the image, in the
  classes and palette of the checkpoint (or of the config's dataset);
* ``DIR/<name>_dilation.png`` (PAD models): per PAD layer the expected
  dilation and the argmax choice that evaluation uses.

Without CHECKPOINT the model keeps its random weights (with mmseg's warning):
enough to try a config. See docs/analysis.md for an example.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcv  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

import padseg  # noqa: E402,F401  (registers PAD models)
from padseg.analysis import load_samples  # noqa: E402
from padseg.apis.analysis_cli import add_config_arguments, read_config  # noqa: E402
from padseg.analysis.visualize import draw_dilation_maps  # noqa: E402
from padseg.registry import task_scope  # noqa: E402
from padseg.engine.checkpoint import install_checkpoint_guards  # noqa: E402
from padseg.ops import pad_layers  # noqa: E402

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', help='an image file or a folder of images')
    parser.add_argument('config', help='an mmseg config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='weights (none: random weights)')
    parser.add_argument('--out-dir', required=True, help='folder of the PNGs')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='opacity of the painted segmentation, in (0, 1]')
    parser.add_argument('--with-labels', action='store_true',
                        help='write the class names on the segmentation')
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 < args.opacity <= 1:
        parser.error(f'--opacity must be in (0, 1], got {args.opacity}')
    return args


def list_images(path: str) -> list:
    """``path`` itself, or the image files of the folder ``path``."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'image or folder not found: {path}')
    images = sorted(
        osp.join(path, name) for name in os.listdir(path)
        if name.lower().endswith(IMAGE_SUFFIXES))
    if not images:
        raise ValueError(f'{path} holds no image ({", ".join(IMAGE_SUFFIXES)})')
    return images


def dataset_meta(model, cfg) -> dict:
    """Classes and palette: the checkpoint's, else the config's dataset's."""
    from mmseg.registry import DATASETS
    meta = getattr(model, 'dataset_meta', None) or {}
    if meta.get('classes') is not None and \
            meta.get('classes') != _cityscapes_classes():
        return meta
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    cls = DATASETS.get(dataset.get('type', ''))
    return dict(getattr(cls, 'METAINFO', None) or meta)


def _cityscapes_classes():
    # what MMSegInferencer sets when a checkpoint has no dataset_meta
    from mmseg.utils import get_classes
    return get_classes('cityscapes')


def main(argv=None):
    args = parse_args(argv)
    images = list_images(args.img)
    cfg = read_config(args.config, args.cfg_options)
    if task_scope(cfg) != 'mmseg':
        raise ValueError(f'{args.config} is not a segmentation config '
                         "(default_scope must be 'mmseg')")
    if args.checkpoint is not None:
        install_checkpoint_guards()
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(model=cfg, weights=args.checkpoint,
                                 device=args.device)
    inferencer.show_progress = False  # one bar, over the images
    meta = dataset_meta(inferencer.model, cfg)
    inferencer.visualizer.set_dataset_meta(meta.get('classes'),
                                           meta.get('palette'))
    with_pad = any(True for _ in pad_layers(inferencer.model))
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    progress = ProgressBar(len(images))
    for path in images:
        name = osp.splitext(osp.basename(path))[0]
        result = inferencer(path, return_vis=True, opacity=args.opacity,
                            with_labels=args.with_labels)
        out = osp.join(args.out_dir, f'{name}.png')
        # the visualizer draws RGB; mmcv writes BGR
        mmcv.imwrite(result['visualization'][..., ::-1], out,
                     auto_mkdir=False)
        written.append(out)
        if with_pad:
            sample = load_samples(cfg, img_paths=[path])[0]
            out = osp.join(args.out_dir, f'{name}_dilation.png')
            draw_dilation_maps(inferencer.model, sample).savefig(out)
            written.append(out)
        progress.update()
    print('\n' + '\n'.join(written))


if __name__ == '__main__':
    main()
