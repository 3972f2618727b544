"""SIGKILL at chosen moments — while a checkpoint is written, in the middle
of an iteration, while ``last_checkpoint`` is written — then ``--resume``:
each restart continues from the last complete checkpoint with iteration,
optimizer, LR schedule, tau schedule and logged history restored, and the
run finishes. ``max_keep_ckpts=1`` makes the guarantee strict: the stock
hook deleted the only checkpoint before writing the next one."""
import glob
import json
import os.path as osp
import re

import pytest
import torch
from digits_scenes import make_digits_voc
from helpers.reliability import PAD_DEEPLAB, pad_deeplab_config, run_killable
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.optim.scheduler import PolyLR
from mmengine.registry import HOOKS

import padseg  # noqa: F401  (registers SafeCheckpointHook)
from padseg.engine import annealed_tau
from padseg.engine.checkpoint import load_local_checkpoint

MAX_ITERS = 8
KILLED = -9  # returncode of a process ended by SIGKILL


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('digits_voc')
    make_digits_voc(str(root), num_train=4, num_val=1, image_size=(32, 32),
                    seed=1)
    return str(root / 'VOC2012')


def pointer(work):
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


def saved_iter(path):
    return load_local_checkpoint(path, map_location='cpu')['meta']['iter']


def checkpoints(work):
    return sorted(osp.basename(p) for p in glob.glob(osp.join(work, 'iter_*')))


def uninterrupted_schedule():
    """The LR of each iteration (1-based) of an uninterrupted run, and its LR
    scheduler's state at the end."""
    # base LR from the config; the PolyLR the test config sets
    lr = Config.fromfile(PAD_DEEPLAB).optim_wrapper.optimizer.lr
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = PolyLR(optimizer, eta_min=1e-4, power=0.9, begin=0,
                       end=MAX_ITERS, by_epoch=False)
    lrs = {}
    for it in range(1, MAX_ITERS + 1):
        lrs[it] = optimizer.param_groups[0]['lr']
        optimizer.step()
        scheduler.step()
    return lrs, scheduler.state_dict()


def logged(work):
    """(run folder, iter, lr, tau) of every logged training iteration."""
    rows = []
    for path in sorted(glob.glob(osp.join(work, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if 'lr' in row:
                    rows.append((path, row['iter'], row['lr'], row['tau']))
    return rows


def test_killed_anywhere_resumes_and_finishes(tmp_path, voc_root):
    cfg = pad_deeplab_config(str(tmp_path / 'cfg.py'), voc_root, MAX_ITERS,
                             interval=2, max_keep_ckpts=1)
    work = str(tmp_path / 'work')
    train = ['train.py', cfg, '--work-dir', work]

    def run(kill_at=None, resume=True):
        out = run_killable(train + (['--resume'] if resume else []), kill_at)
        expected = 0 if kill_at is None else KILLED
        assert out.returncode == expected, (out.stdout[-3000:] +
                                            out.stderr[-5000:])
        return out.stdout + out.stderr

    # 1. killed while iter_4.pth is half written: iter_2 stays the latest
    run('write:iter_4.pth', resume=False)
    assert pointer(work) == osp.join(work, 'iter_2.pth')
    assert saved_iter(pointer(work)) == 2
    assert checkpoints(work) == ['iter_2.pth', 'iter_4.pth.part']

    # 2. resumed at 2, killed in iteration 6 before its optimizer step
    log = run('step:6')
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'iter_4.pth.part, left by a run killed while saving' in log
    assert pointer(work) == osp.join(work, 'iter_4.pth')
    assert saved_iter(pointer(work)) == 4
    assert checkpoints(work) == ['iter_4.pth']  # iter_2 expired after it

    # 3. resumed at 4, killed while last_checkpoint is written after iter_6
    log = run('write:last_checkpoint')
    assert 'resumed epoch: 0, iter: 4' in log
    assert pointer(work) == osp.join(work, 'iter_4.pth')
    assert checkpoints(work) == ['iter_4.pth', 'iter_6.pth']
    assert saved_iter(osp.join(work, 'iter_6.pth')) == 6
    assert osp.isfile(osp.join(work, 'last_checkpoint.part'))

    # 4. resumed at 4 (what last_checkpoint names), runs to the end
    log = run()
    assert 'resumed epoch: 0, iter: 4' in log
    assert not glob.glob(osp.join(work, '*.part'))
    assert pointer(work) == osp.join(work, 'iter_8.pth')
    assert checkpoints(work) == ['iter_8.pth']
    final = torch.load(pointer(work), map_location='cpu')
    assert final['meta']['iter'] == MAX_ITERS
    assert final['optimizer']['state']  # momentum buffers came along
    lrs, scheduler_state = uninterrupted_schedule()
    assert final['param_schedulers'] == [scheduler_state]
    assert final['message_hub']['runtime_info']['keep_ckpt_ids'] == [8]
    # logged history restored: one loss per iteration 1..8, none twice
    losses, _ = final['message_hub']['log_scalars']['train/loss'].data
    assert len(losses) == MAX_ITERS

    # LR and tau of every logged iteration, in every run, are those of an
    # uninterrupted run: the schedules continued from the checkpoint
    rows = logged(work)
    assert {it for _, it, _, _ in rows} == set(range(1, MAX_ITERS + 1))
    for _, it, lr, tau in rows:
        assert lr == pytest.approx(lrs[it], rel=1e-6), it
        assert tau == pytest.approx(
            annealed_tau(1.0, 0.1, (it - 1) / MAX_ITERS, 'exponential'),
            rel=1e-6), it
    last_run = max(path for path, _, _, _ in rows)
    assert [it for path, it, _, _ in rows if path == last_run] == [5, 6, 7, 8]
    assert re.search(r'Iter\(train\) \[8/8\]', log)


def test_an_mmengine_without_the_overridden_method_is_named(monkeypatch):
    """The one private CheckpointHook method the hook overrides is checked
    when the hook is built: a release without it is named, not run with
    the stock (unguarded) save."""
    monkeypatch.delattr(CheckpointHook, '_save_checkpoint_with_step')
    with pytest.raises(RuntimeError,
                       match=r'_save_checkpoint_with_step of MMEngine'):
        HOOKS.build(dict(type='SafeCheckpointHook', interval=1))
