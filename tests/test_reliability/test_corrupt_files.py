"""Damaged files: truncated, corrupt, empty and foreign checkpoints given to
``--resume``, ``load_from``, ``tools/test.py`` and
``init_cfg=dict(type='Pretrained')`` fail with an error naming the file,
what is wrong, and the newest complete checkpoint next to it — which still
works; missing and damaged images and label maps name the file too, through
the stock loaders of the config and ``UnreadableFilesHook``."""
import os
import os.path as osp
import runpy
import shutil
import struct
import sys
import zipfile

import pytest
import torch
from mmcv.transforms import LoadImageFromFile
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModule
from mmengine.registry import DATASETS
from mmengine.runner import CheckpointLoader, Runner
from mmseg.datasets.transforms import LoadAnnotations
from reliability_helpers import REPO, pad_deeplab_config

from padseg.datasets import make_digits_voc
from padseg.engine.reliability import (UnreadableFileError,
                                       checkpoint_problem,
                                       install_checkpoint_guards,
                                       name_unreadable_files)


@pytest.fixture
def guarded_loader():
    """MMEngine's loader for local paths as padseg's tools install it; the
    schemes are put back afterwards."""
    saved = dict(CheckpointLoader._schemes)
    install_checkpoint_guards()
    yield
    CheckpointLoader._schemes.clear()
    CheckpointLoader._schemes.update(saved)


def run_tool(tool, *args):
    """``python tools/<tool> ARGS`` in this process."""
    saved = sys.argv
    sys.argv = [osp.join(REPO, 'tools', tool), *args]
    try:
        runpy.run_path(sys.argv[0], run_name='__main__')
    finally:
        sys.argv = saved


# ---------------------------------------------------------------- damage
def truncate(path, keep):
    with open(path, 'r+b') as f:
        f.truncate(keep)


def flip_byte_in_largest_tensor(path):
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    with open(path, 'r+b') as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack('<HH', f.read(4))
        f.seek(info.header_offset + 30 + name_len + extra_len +
               info.file_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def damage(path, how):
    size = osp.getsize(path)
    if how == 'empty':
        truncate(path, 0)
    elif how == 'half':
        truncate(path, size // 2)
    elif how == 'tail':
        truncate(path, size - 10)
    elif how == 'flip':
        flip_byte_in_largest_tensor(path)
    elif how == 'foreign':
        with open(path, 'w') as f:
            f.write("model = dict(type='EncoderDecoder')\n")
    elif how == 'legacy-half':
        torch.save({'state_dict': {'w': torch.ones(4096)}}, path,
                   _use_new_zipfile_serialization=False)
        truncate(path, osp.getsize(path) // 2)
    else:
        raise ValueError(how)


PROBLEMS = {
    'empty': 'the file is empty (0 bytes)',
    'half': 'it is truncated',
    'tail': 'it is truncated',
    'flip': 'Bad CRC-32',
    'foreign': 'it is not a PyTorch checkpoint',
    'legacy-half': 'torch.load failed on it',
}


def small_checkpoint(path, mtime=None):
    torch.save({'state_dict': {'w': torch.arange(4096.)}}, path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return str(path)


@pytest.mark.parametrize('how', sorted(PROBLEMS))
def test_damaged_checkpoint_is_named_and_explained(tmp_path, how,
                                                   guarded_loader):
    good = small_checkpoint(tmp_path / 'iter_1.pth', mtime=1e9)
    bad = small_checkpoint(tmp_path / 'iter_2.pth')
    damage(bad, how)
    with pytest.raises(UnreadableFileError) as info:
        CheckpointLoader.load_checkpoint(bad, map_location='cpu')
    message = str(info.value)
    assert message.startswith(f'cannot load checkpoint {bad}: ')
    assert PROBLEMS[how] in message
    assert (f'The newest complete checkpoint next to it is {good}' in message
            and f'--cfg-options load_from={good}' in message)
    assert torch.equal(CheckpointLoader.load_checkpoint(good)['state_dict']
                       ['w'], torch.arange(4096.))
    if how != 'legacy-half':  # caught before torch.load by the file check
        assert PROBLEMS[how] in checkpoint_problem(bad)


def test_intact_checkpoints_pass_and_missing_ones_are_named(
        tmp_path, guarded_loader):
    path = small_checkpoint(tmp_path / 'a.pth')
    legacy = str(tmp_path / 'legacy.pth')
    torch.save({'w': torch.ones(3)}, legacy,
               _use_new_zipfile_serialization=False)
    assert checkpoint_problem(path) is None
    assert checkpoint_problem(legacy) is None
    assert torch.equal(CheckpointLoader.load_checkpoint(legacy)['w'],
                       torch.ones(3))
    os.remove(path)
    os.remove(legacy)
    missing = str(tmp_path / 'iter_9.pth')
    with pytest.raises(FileNotFoundError,
                       match=f'checkpoint {missing} can not be found.*'
                       'No other complete checkpoint'):
        CheckpointLoader.load_checkpoint(missing)


def test_pretrained_init_cfg_names_the_damaged_file(tmp_path,
                                                    guarded_loader):
    bad = small_checkpoint(tmp_path / 'imagenet.pth')
    damage(bad, 'half')
    module = BaseModule(init_cfg=dict(type='Pretrained', checkpoint=bad))
    with pytest.raises(UnreadableFileError, match=f'{bad}: it is truncated'):
        module.init_weights()
    # a padseg backbone that converts public checkpoints reads them the same
    from padseg.models.backbones.mobilenet_v2 import PADMobileNetV2
    backbone = PADMobileNetV2(
        widen_factor=0.25,
        init_cfg=dict(type='Pretrained', checkpoint=bad))
    with pytest.raises(UnreadableFileError, match=f'{bad}: it is truncated'):
        backbone.init_weights()


# ----------------------------------------------------------- tools, runs
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


def copy_work_dir(src, dst):
    shutil.copytree(src, dst)
    with open(osp.join(dst, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(dst, 'iter_2.pth'))
    return dst


def test_resume_from_a_truncated_latest_names_the_earlier_one(
        trained, tmp_path):
    config, work, _ = trained
    work = copy_work_dir(work, str(tmp_path / 'work'))
    latest, earlier = (osp.join(work, f'iter_{i}.pth') for i in (2, 1))
    os.utime(earlier, (1e9, 1e9))
    damage(latest, 'half')
    with pytest.raises(UnreadableFileError) as info:
        run_tool('train.py', config, '--work-dir', work, '--resume',
                 '--cfg-options', 'experiment_name=resume_truncated')
    message = str(info.value)
    assert f'cannot load checkpoint {latest}: it is truncated' in message
    assert f'--resume --cfg-options load_from={earlier}' in message
    # the earlier checkpoint works: resume from it as the message says
    run_tool('train.py', config, '--work-dir', work, '--resume',
             '--cfg-options', f'load_from={earlier}',
             'experiment_name=resume_earlier')
    assert torch.load(latest)['meta']['iter'] == 2
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == latest


def test_test_tool_and_load_from_name_the_damaged_file(trained, tmp_path):
    config, work, _ = trained
    flipped = shutil.copy(osp.join(work, 'iter_2.pth'),
                          str(tmp_path / 'flipped.pth'))
    damage(flipped, 'flip')
    with pytest.raises(UnreadableFileError,
                       match=f'{flipped}: it is corrupt .*Bad CRC-32'):
        run_tool('test.py', config, flipped, '--work-dir',
                 str(tmp_path / 'test'), '--cfg-options',
                 'experiment_name=test_flipped')
    empty = str(tmp_path / 'empty.pth')
    open(empty, 'wb').close()
    with pytest.raises(UnreadableFileError,
                       match=f'{empty}: the file is empty'):
        run_tool('train.py', config, '--work-dir', str(tmp_path / 'w'),
                 '--cfg-options', f'load_from={empty}',
                 'experiment_name=load_from_empty')


def test_stock_runner_checks_load_from_without_the_guards(trained, tmp_path):
    """Under the stock tools (no install_checkpoint_guards), the config's
    SafeCheckpointHook still checks the file load_from names, before
    MMEngine reads it, and names the complete one next to it."""
    config, work, _ = trained
    schemes = dict(CheckpointLoader._schemes)
    folder = shutil.copytree(work, str(tmp_path / 'ckpts'))
    bad, good = (osp.join(folder, f'iter_{i}.pth') for i in (2, 1))
    os.utime(good, (1e9, 1e9))
    damage(bad, 'tail')
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'test')
    cfg.load_from = bad
    cfg.experiment_name = 'stock_load_from_tail'
    with pytest.raises(UnreadableFileError,
                       match=f'{bad}: it is truncated.*load_from={good}'):
        Runner.from_cfg(cfg).test()
    assert CheckpointLoader._schemes == schemes  # nothing was installed


# ------------------------------------------------------------------ data
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


@pytest.mark.parametrize('how', sorted(IMAGE_DAMAGE))
@pytest.mark.parametrize('kind', ['image', 'label map'])
def test_damaged_image_or_label_map_is_named(trained, tmp_path, kind, how):
    _, _, data_root = trained
    root, path = damaged_copy(data_root, tmp_path, kind, how)
    dataset = digits_dataset(root)
    assert name_unreadable_files(dataset) == 2
    dataset[0]  # the intact ones load
    error, what = IMAGE_DAMAGE[how]
    with pytest.raises(error) as info:
        dataset[2]
    assert f'{kind} {path}' in str(info.value) and what in str(info.value)


@pytest.mark.parametrize('kind', ['image', 'label map'])
def test_hook_names_the_file_in_training_workers(trained, tmp_path, kind):
    """A real run of a config with the stock loaders, two DataLoader workers
    (started when the iteration loop is built, before any hook) and
    UnreadableFilesHook: the error that reaches the main process names the
    damaged file."""
    config, _, data_root = trained
    root, path = damaged_copy(data_root, tmp_path, kind, 'empty')
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'hook_workers_{kind[0]}'
    cfg.train_dataloader.dataset.data_root = root
    cfg.train_dataloader.num_workers = 2
    cfg.train_dataloader.persistent_workers = True
    cfg.train_dataloader.batch_size = 4  # the damaged file is in batch 1
    cfg.default_hooks.unreadable_files = dict(type='UnreadableFilesHook')
    with pytest.raises(UnreadableFileError) as info:
        Runner.from_cfg(cfg).train()
    assert f'cannot load {kind} {path}: the file is empty' in str(info.value)


class _RecordBatches(Hook):
    """Remembers the image files of every training batch."""

    def __init__(self):
        self.batches = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.batches.append(
            [sample.img_path for sample in data_batch['data_samples']])


@pytest.mark.parametrize('sampler', ['InfiniteSampler', 'DefaultSampler'])
def test_hook_with_workers_trains_on_the_same_batches(trained, tmp_path,
                                                      sampler):
    """With intact data the hook changes nothing a run does: its restarted
    workers (persistent, two of them) give the batches, in the order, that
    the run without the hook gets."""
    config, _, _ = trained
    seen = []
    for with_hook in (False, True):
        cfg = Config.fromfile(config)
        cfg.work_dir = str(tmp_path / f'work_{with_hook}')
        cfg.experiment_name = f'same_batches_{sampler}_{with_hook}'
        cfg.randomness = dict(seed=3)
        cfg.train_cfg.max_iters = 3
        cfg.train_cfg.val_interval = 100
        cfg.train_dataloader.update(
            num_workers=2, persistent_workers=True,
            sampler=dict(type=sampler, shuffle=True))
        cfg.default_hooks.pop('unreadable_files', None)
        if with_hook:
            cfg.default_hooks.unreadable_files = dict(
                type='UnreadableFilesHook')
        runner = Runner.from_cfg(cfg)
        recorder = _RecordBatches()
        runner.register_hook(recorder)
        runner.train()
        seen.append(recorder.batches)
    assert len(seen[1]) == 3 and seen[1] == seen[0]


def test_stock_loaders_do_not_name_a_damaged_label_map(tmp_path):
    """Why the hook exists: the stock loaders hide the file; the same
    instances name it once name_unreadable_files has seen them, and keep
    their registered type name in the pipeline's config."""
    path = str(tmp_path / 'label.png')
    with open(path, 'wb') as f:
        f.write(b'not an image' * 20)
    results = dict(img_path=path, seg_map_path=path, reduce_zero_label=False,
                   seg_fields=[])
    with pytest.raises(Exception) as info:
        LoadAnnotations()(dict(results))
    assert path not in str(info.value)
    open(path, 'wb').close()
    with pytest.raises(Exception) as info:
        LoadImageFromFile()(dict(results))
    assert path not in str(info.value)
    loaders = [LoadAnnotations(), LoadImageFromFile()]
    assert name_unreadable_files(loaders) == 2
    assert name_unreadable_files(loaders) == 0  # already changed
    for loader in loaders:
        assert isinstance(loader, (LoadAnnotations, LoadImageFromFile))
        with pytest.raises(UnreadableFileError, match=path):
            loader(dict(results))
