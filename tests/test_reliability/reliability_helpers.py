"""What the reliability tests share: the small PAD DeepLabV3+ config on tiny
generated data, and running tools through ``kill_switch.py``."""
import os
import os.path as osp
import subprocess
import sys
from typing import Optional

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
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
        [sys.executable, osp.join(HERE, 'kill_switch.py')] + list(args),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
