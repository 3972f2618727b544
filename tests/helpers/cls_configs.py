"""What the classification tests share: the configs, their paper targets
and tiny datasets fabricated in the real on-disk layouts."""
import glob
import os
import os.path as osp
import re
from typing import Dict, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

import padseg  # noqa: F401  (registers the backbones in mmpretrain)
from helpers import REPO

CONFIG_DIR = osp.join(REPO, 'configs', 'classification')
CONFIGS = sorted(
    osp.relpath(path, CONFIG_DIR)
    for path in glob.glob(osp.join(CONFIG_DIR, '*', '*.py'))
    if '_base_' not in path)

#: Paper targets: Table 6 (top-1, top-5) and Table 7 (top-1), regular / PAD.
TABLE6 = {  # model: ((top-1, top-5) regular, (top-1, top-5) PAD)
    'vgg16': ((73.0, 91.2), (74.5, 92.0)),
    'resnet50': ((76.0, 93.0), (76.9, 93.4)),
    'drn-c-26': ((75.1, 92.4), (75.9, 92.6)),
    'mobilenet-v2': ((71.8, 91.0), (72.6, 90.8)),
}
TABLE7 = {  # (dataset, crop): {model: (regular, PAD)}
    ('stanford-cars', 224): {'resnet50': (91.2, 91.6),
                             'drn-c-26': (91.0, 91.4),
                             'mobilenet-v2': (88.7, 88.8)},
    ('stanford-cars', 448): {'resnet50': (92.3, 93.5),
                             'drn-c-26': (90.3, 92.4),
                             'mobilenet-v2': (80.6, 82.7)},
    ('fgvc-aircraft', 224): {'resnet50': (86.1, 86.6),
                             'drn-c-26': (86.3, 86.5),
                             'mobilenet-v2': (83.2, 84.1)},
    ('fgvc-aircraft', 448): {'resnet50': (87.9, 90.1),
                             'drn-c-26': (86.8, 89.6),
                             'mobilenet-v2': (80.5, 87.6)},
}
#: Total batch of Table 9 (Table 10: our choice, 64).
TABLE9_BATCH = {'vgg16': 128, 'resnet50': 192, 'drn-c-26': 192,
                'mobilenet-v2': 256}
NAME = re.compile(r'(?P<pad>pad-)?(?P<model>[\w.-]+?)_(?P<gpus>\d+)xb'
                  r'(?P<batch>\d+)-(?P<schedule>\w+)_(?P<dataset>[a-z0-9-]+?)'
                  r'(-(?P<crop>\d+)px)?\.py')


def parse_name(config: str) -> Dict:
    """The parts of a config file name (``pad-``, model, N, b, dataset...)."""
    match = NAME.fullmatch(osp.basename(config))
    assert match, f'{config} does not follow the naming scheme'
    parts = match.groupdict()
    parts['pad'] = bool(parts['pad'])
    parts['crop'] = int(parts['crop'] or 224)
    return parts


def load(config: str) -> Config:
    init_default_scope('mmpretrain')
    return Config.fromfile(osp.join(CONFIG_DIR, config))


def write_image(path: str, size: Tuple[int, int] = (40, 48),
                seed: int = 0) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    pixels = np.random.default_rng(seed).integers(
        0, 256, size=(size[0], size[1], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def make_imagenet(root: str, wnids=('n01440764', 'n01443537'),
                  per_class: int = 2) -> None:
    """ILSVRC-2012 as mmpretrain's docs prepare it: ``train/<wnid>/*.JPEG``,
    a flat ``val/`` and ``meta/{train,val}.txt`` of ``<file> <label>`` lines
    (class folders alone would have to be all 1000)."""
    os.makedirs(osp.join(root, 'meta'))
    train, val = [], []
    for label, wnid in enumerate(wnids):
        for i in range(per_class):
            train.append((f'{wnid}/{wnid}_{i}.JPEG', label))
            val.append((f'ILSVRC2012_val_{len(val) + 1:08d}.JPEG', label))
    for split, items in (('train', train), ('val', val)):
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            for i, (name, label) in enumerate(items):
                write_image(osp.join(root, split, name),
                            seed=i if split == 'train' else 100 + i)
                f.write(f'{name} {label}\n')
