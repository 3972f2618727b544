"""``UnreadableFilesHook`` in real runs: the error that reaches the main
process from a DataLoader worker names the file; with intact data the run
is the same as without the hook."""
import os.path as osp
from types import SimpleNamespace

import pytest
from helpers.reliability import damaged_copy, trained  # noqa: F401
from mmengine.config import Config
from mmengine.dataset import InfiniteSampler
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from padseg.engine.hooks.unreadable_files_hook import _restart_workers
from padseg.errors import UnreadableFileError


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


def test_hook_names_the_file_in_test_workers(trained, tmp_path):
    """The test phase (Runner.test, as tools/test.py runs it) with two
    persistent workers: the hook reaches the test loop through the Runner's
    public test_loop and the error names the damaged file."""
    config, work, data_root = trained
    root, path = damaged_copy(data_root, tmp_path, 'image', 'empty')
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = 'hook_test_workers'
    cfg.load_from = osp.join(work, 'iter_2.pth')
    # the train split as test set: it holds the damaged file
    cfg.test_dataloader.dataset.update(
        data_root=root, ann_file='ImageSets/Segmentation/train.txt')
    cfg.test_dataloader.update(num_workers=2, persistent_workers=True)
    cfg.default_hooks.unreadable_files = dict(type='UnreadableFilesHook')
    with pytest.raises(UnreadableFileError,
                       match=f'cannot load image {path}: the file is empty'):
        Runner.from_cfg(cfg).test()


def test_restart_refuses_a_sampler_without_its_generator_maker():
    """The private names the restart needs are checked: an MMEngine whose
    InfiniteSampler lost _indices_of_rank gets a clear error."""
    sampler = InfiniteSampler(list(range(4)), shuffle=False)
    sampler._indices_of_rank = None  # as if a release had removed it
    loader = DataLoader(list(range(4)), sampler=sampler, num_workers=1)
    loop = SimpleNamespace(dataloader=loader, dataloader_iterator=iter([]))
    with pytest.raises(RuntimeError, match='_indices_of_rank'):
        _restart_workers(loop)
