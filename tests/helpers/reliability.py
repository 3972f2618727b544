"""What the reliability tests share: the small PAD DeepLabV3+ config on tiny
generated data, a short run of it, damaged copies of its data, and running
tools through ``kill_switch.py``."""
import os
import os.path as osp
import subprocess
import sys
import shutil
from typing import Optional

import pytest
from mmengine.config import Config
from mmengine.registry import DATASETS
from mmengine.runner import Runner

from digits_scenes import make_digits_voc
from helpers import REPO
from padseg.errors import UnreadableFileError

PAD_DEEPLAB = osp.join(
    REPO, 'configs', 'digits',
    'deeplabv3plus_pad-r18w16-os8_1xb8-1k_digits-96x96.py')


def pad_deeplab_config(path: str, data_root: str, max_iters: int,
                       interval: int, max_keep_ckpts: int = -1,
                       extra: str = '') -> str:
    """The digits PAD DeepLabV3+ at half its width on 32 px images, with
    padseg's safe checkpoint hook, finite-loss hook and safe loaders."""
    body = f'''_base_ = {PAD_DEEPLAB!r}
_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
_dataset = dict(
    _delete_=True,
    type='DigitsVOCDataset',
    data_root={data_root!r},
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    pipeline=_pipeline)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(_dataset, ann_file='ImageSets/Segmentation/train.txt'))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(_dataset, ann_file='ImageSets/Segmentation/val.txt'))
test_dataloader = val_dataloader
model = dict(
    data_preprocessor=dict(size=(32, 32)),
    backbone=dict(stem_channels=8, base_channels=8),
    decode_head=dict(in_channels=64, channels=16, c1_in_channels=8,
                     c1_channels=8))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters},
                 val_interval={max_iters})
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end={max_iters},
         by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval={interval}, max_keep_ckpts={max_keep_ckpts}),
    finite_loss=dict(type='FiniteLossHook'))
'''
    with open(path, 'w') as f:
        f.write(body + extra)
    return path


def run_killable(args, kill_at: Optional[str] = None,
                 timeout: int = 300) -> subprocess.CompletedProcess:
    """``python tools/<args[0]> <args[1:]>`` in a subprocess, SIGKILLed at
    ``kill_at`` (see ``kill_switch.py``)."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1', PADSEG_KILL_AT=kill_at or '')
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tests', 'helpers', 'kill_switch.py')] + list(args),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A 2-iteration run of the PAD digits config: iter_1.pth, iter_2.pth."""
    root = tmp_path_factory.mktemp('trained')
    make_digits_voc(str(root / 'data'), num_train=4, num_val=1,
                    image_size=(32, 32), seed=1)
    config = pad_deeplab_config(str(root / 'cfg.py'),
                                str(root / 'data' / 'VOC2012'), max_iters=2,
                                interval=1)
    cfg = Config.fromfile(config)
    cfg.work_dir = str(root / 'work')
    cfg.experiment_name = 'reliability_trained'
    Runner.from_cfg(cfg).train()
    return config, str(root / 'work'), str(root / 'data' / 'VOC2012')


IMAGE_DAMAGE = {
    'missing': (FileNotFoundError, 'does not exist'),
    'empty': (UnreadableFileError, 'the file is empty (0 bytes)'),
    'half': (UnreadableFileError, 'it cannot be decoded'),
    'garbage': (UnreadableFileError, 'it cannot be decoded'),
}


def damage_data_file(path, how):
    data = open(path, 'rb').read()
    if how == 'missing':
        os.remove(path)
        return
    content = {'empty': b'', 'half': data[:len(data) // 2],
               'garbage': b'not an image' * 20}[how]
    with open(path, 'wb') as f:
        f.write(content)


def digits_dataset(root):
    """The digits train split through the stock loaders, as configs say."""
    return DATASETS.build(dict(
        type='DigitsVOCDataset', data_root=root,
        data_prefix=dict(img_path='JPEGImages',
                         seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]))


def damaged_copy(data_root, tmp_path, kind, how):
    root = shutil.copytree(data_root, str(tmp_path / 'VOC2012'))
    folder, suffix = (('JPEGImages', '.jpg') if kind == 'image' else
                      ('SegmentationClass', '.png'))
    path = osp.join(root, folder, 'train_000002' + suffix)
    damage_data_file(path, how)
    return root, path
