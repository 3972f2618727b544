"""Running padseg's and mmseg's tools as a user would: in subprocesses, on
tiny generated data, from real configs with a few overrides."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap
from typing import List, Optional

from helpers import REPO


def run_tool(args: List[str], timeout: int = 600,
             env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from the repository root; fail with the tail of
    its output if it does not exit 0."""
    full_env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1',
                    MKL_NUM_THREADS='1')
    full_env.update(env or {})
    proc = subprocess.run([sys.executable] + args, cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f'{" ".join(args)} exited {proc.returncode}:\n'
        f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def write_config(path: str, base: str, body: str = '') -> str:
    """A config file inheriting ``base`` (absolute path) plus ``body``."""
    with open(path, 'w') as f:
        f.write(f'_base_ = {osp.abspath(base)!r}\n')
        f.write(textwrap.dedent(body))
    return path


def tiny_voc_data(data_root: str, img_size: int = 64, batch: int = 2,
                  dataset_type: str = 'DigitsVOCDataset') -> str:
    """Config text pointing every dataloader at a VOC-layout ``data_root``
    (``.../VOC2012``), workers off, fixed small crops."""
    return f'''
_tiny_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
_tiny_dataset = dict(
    _delete_=True,
    type={dataset_type!r},
    data_root={data_root!r},
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    pipeline=_tiny_pipeline)
train_dataloader = dict(
    batch_size={batch}, num_workers=0, persistent_workers=False,
    dataset=dict(_tiny_dataset,
                 ann_file='ImageSets/Segmentation/train.txt'))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(_tiny_dataset, ann_file='ImageSets/Segmentation/val.txt'))
test_dataloader = val_dataloader
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True)
         for r in (0.75, 1.0)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]])
]
model = dict(data_preprocessor=dict(size=({img_size}, {img_size}), size_divisor=None))
default_hooks = dict(logger=dict(interval=1))
'''


def short_schedule(iters: int, interval: int) -> str:
    return f'''
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters},
                 val_interval={iters})
param_scheduler = []
default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval={interval}, max_keep_ckpts=10))
'''


def read_metrics(work_dir: str) -> dict:
    """The metrics json that ``tools/test.py --work-dir`` wrote."""
    files = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    assert files, f'no metrics json under {work_dir}'
    with open(files[-1]) as f:
        return json.load(f)
