"""Checkpoint I/O (``padseg.engine.checkpoint``).

Damaged files: truncated, corrupt, empty and foreign checkpoints given to
``--resume``, ``load_from``, ``tools/test.py`` and
``init_cfg=dict(type='Pretrained')`` fail with an error naming the file,
what is wrong, and the newest complete checkpoint next to it — which still
works. MMEngine checkpoints load under torch's safe loading once padseg is
imported, and nothing beyond them is allowed."""
import io
import os
import os.path as osp
import pickle
import runpy
import shutil
import struct
import sys
import zipfile

import numpy as np
import pytest
import torch
from helpers.reliability import REPO, trained  # noqa: F401  (fixture)
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModule
from mmengine.runner import CheckpointLoader, Runner

from padseg.engine.checkpoint import (allow_mmengine_checkpoints,
                                      checkpoint_problem,
                                      install_checkpoint_guards)
from padseg.errors import UnreadableFileError


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


# ---------------------------------------------------------- safe loading
def test_message_hub_state_round_trips_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('checkpoint_test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', np.float64(0.25))
    hub.update_info('iter', 7)
    state = dict(message_hub=hub.state_dict(),
                 meta=dict(iter=7, seed=np.int64(3),
                           dataset_meta=dict(classes=('a', 'b'))),
                 state_dict={'w': torch.ones(2)},
                 buffer_methods=dict(mean=HistoryBuffer.mean,
                                     max=HistoryBuffer.max))
    path = tmp_path / 'ckpt.pth'
    torch.save(state, path)
    # import padseg allow-listed them; again, since onedl-mmengine's loader
    # (an earlier test's) removes them from torch's list after each load
    allow_mmengine_checkpoints()
    loaded = torch.load(path)  # weights_only=True is torch's default
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.current() == 0.25
    assert loaded['meta']['seed'] == 3
    assert loaded['buffer_methods']['mean'] is HistoryBuffer.mean


def test_a_loader_that_removes_its_allow_list_does_not_break_padsegs(
        tmp_path):
    """onedl-mmengine loads inside ``torch.serialization.safe_globals([...,
    HistoryBuffer, numpy ...])``, whose exit removes those objects from
    torch's allow-list, padseg's entries included: padseg's loader allows
    them again before it loads."""
    from padseg.engine.checkpoint import load_local_checkpoint
    hub = MessageHub.get_instance('checkpoint_erasure_test')
    hub.update_scalar('train/loss', np.float64(0.5))
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(message_hub=hub.state_dict(),
                    state_dict={'w': torch.ones(2)}), path)
    with torch.serialization.safe_globals([HistoryBuffer, np.ndarray]):
        pass  # what onedl-mmengine's loader leaves behind
    loaded = load_local_checkpoint(str(path))
    assert isinstance(loaded['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)


class _Getattr:
    """Pickles as ``getattr(owner, name)``."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@pytest.mark.parametrize('owner,name', [(np.ndarray, 'tofile'),
                                        (HistoryBuffer, 'update'),
                                        (HistoryBuffer, '__init__')])
def test_getattr_stays_forbidden_for_anything_else(owner, name):
    buf = io.BytesIO()
    torch.save({'x': _Getattr(owner, name)}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match=name):
        torch.load(buf)
