"""Arguments shared by the command-line tools in ``tools/analysis/``."""
import argparse
import os.path as osp
from typing import List, NamedTuple

from mmengine.config import Config, DictAction
from torch import nn

from padseg.analysis import (SPLITS, Sample, default_layer, load_model,
                             load_samples)
from padseg.engine.checkpoint import install_checkpoint_guards
from .launch import load_config

__all__ = [
    'add_config_arguments', 'add_image_arguments', 'add_compare_arguments',
    'read_config', 'samples_from_args', 'LoadedModel', 'models_from_args',
    'layer_from_args'
]


class LoadedModel(NamedTuple):
    title: str  # the config's file name
    cfg: Config
    model: nn.Module


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options`` (applied to every config) and ``--device``."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default=None,
        help='override settings of the config(s), key=value pairs')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')


def add_image_arguments(parser: argparse.ArgumentParser,
                        num_images: int) -> None:
    """``--img``, or ``--split`` and ``--num-images``."""
    parser.add_argument('--img', nargs='+', metavar='PATH',
                        help='image files (instead of a dataset split)')
    parser.add_argument('--split', choices=SPLITS, default='test',
                        help='dataset of <split>_dataloader (default: test)')
    parser.add_argument('--num-images', type=int, default=num_images,
                        help=f'first N images of the split (default: '
                        f'{num_images or "all"})')


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """``CONFIG CHECKPOINT [--compare CONFIG2 CHECKPOINT2] [--layer NAME]``."""
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--compare', nargs=2, metavar=('CONFIG2', 'CHECKPOINT2'),
        help='a second model shown next to the first (e.g. the vanilla twin)')
    parser.add_argument(
        '--layer', help='module name (default: the last PAD layer; a module '
        'returning a tuple, like "backbone", gives its last map)')


def read_config(path: str, cfg_options) -> Config:
    """The config at ``path`` with ``--cfg-options`` merged."""
    return load_config(path, cfg_options, work_dir=None, launcher='none')


def samples_from_args(cfg: Config, args: argparse.Namespace) -> List[Sample]:
    if args.num_images is not None and args.num_images <= 0:
        raise ValueError(f'--num-images must be > 0, got {args.num_images}')
    samples = load_samples(cfg, args.split, args.num_images, args.img)
    if not samples:
        raise ValueError(f'the {args.split} split has no image')
    return samples


def models_from_args(args: argparse.Namespace) -> List[LoadedModel]:
    """The model of ``config``/``checkpoint`` and the one of ``--compare``,
    loaded through padseg's checked checkpoint loader."""
    install_checkpoint_guards()
    pairs = [(args.config, args.checkpoint)]
    if args.compare:
        pairs.append(tuple(args.compare))
    models = []
    for config, checkpoint in pairs:
        cfg = read_config(config, args.cfg_options)
        models.append(
            LoadedModel(osp.splitext(osp.basename(config))[0], cfg,
                        load_model(cfg, checkpoint, args.device)))
    return models


def layer_from_args(args: argparse.Namespace,
                    models: List[LoadedModel]) -> str:
    """``--layer`` or :func:`default_layer`, checked in every model."""
    layer = args.layer or default_layer(m.model for m in models)
    for loaded in models:
        names = dict(loaded.model.named_modules())
        if layer not in names:
            raise ValueError(f'layer {layer!r} is not a module of the model '
                             f'of {loaded.title}; pass --layer')
    return layer
