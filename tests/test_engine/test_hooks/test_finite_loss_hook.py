"""Bad numbers: a non-finite loss stops training (naming the iteration and
the last good checkpoint) or is skipped when the config asks, never reaching
the weights, the optimizer state or the BN statistics; non-finite weights are
never saved over a good checkpoint."""
import copy
import glob
import itertools
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from padseg.engine.checkpoint import load_local_checkpoint
from padseg.engine.hooks import FiniteLossHook, SafeCheckpointHook
from padseg.errors import NonFiniteError

_names = itertools.count()


class ToyModel(BaseModel):
    """Linear regression behind a BatchNorm; ``nan_iters`` (1-based) feed
    NaN inputs, as a broken batch would."""

    def __init__(self, nan_iters=()):
        super().__init__()
        self.bn = nn.BatchNorm1d(2)
        self.linear = nn.Linear(2, 1)
        self.nan_iters = set(nan_iters)

    def forward(self, inputs, labels=None, mode='tensor'):
        x = torch.stack(inputs)
        iteration = MessageHub.get_current_instance().get_info('iter', 0) + 1
        if self.training and iteration in self.nan_iters:
            x = x * float('nan')
        out = self.linear(self.bn(x))
        if mode == 'loss':
            return dict(loss=((out - torch.stack(labels))**2).mean())
        return out


class Snapshots(Hook):
    """Weights, momentum and BN statistics after every iteration."""

    priority = 'LOWEST'

    def __init__(self):
        self.states = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        optimizer = runner.optim_wrapper.optimizer
        self.states[runner.iter + 1] = copy.deepcopy(
            dict(model=runner.model.state_dict(),
                 momentum=[optimizer.state[p].get('momentum_buffer')
                           for p in runner.model.linear.parameters()]))


def dataset():
    g = torch.Generator().manual_seed(0)
    return [dict(inputs=torch.randn(2, generator=g),
                 labels=torch.randn(1, generator=g)) for _ in range(8)]


def toy_runner(work_dir, model, hooks, max_iters=6, custom_hooks=(),
               train_cfg=None, **kwargs):
    return Runner(
        model=model,
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=dataset(), batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler' if train_cfg else
                         'InfiniteSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=train_cfg or dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           **hooks),
        custom_hooks=list(custom_hooks),
        experiment_name=f'finite_{next(_names)}',
        **kwargs)


def checkpoint_hook(**kwargs):
    return dict(type='SafeCheckpointHook', by_epoch=False, interval=2,
                **kwargs)


def all_finite(state):
    return all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())


def test_nan_loss_stops_before_the_step(tmp_path):
    snapshots = Snapshots()
    runner = toy_runner(tmp_path, ToyModel(nan_iters=[5]),
                        dict(checkpoint=checkpoint_hook(),
                             finite_loss=dict(type='FiniteLossHook')),
                        custom_hooks=[snapshots])
    with pytest.raises(NonFiniteError) as info:
        runner.train()
    message = str(info.value)
    assert 'Iteration 5: the loss is nan' in message
    assert osp.join(str(tmp_path), 'iter_4.pth') in message
    # the weights and momentum are those after iteration 4
    model = runner.model.state_dict()
    assert torch.equal(model['linear.weight'],
                       snapshots.states[4]['model']['linear.weight'])
    assert all_finite({k: v for k, v in model.items() if 'linear' in k})
    assert sorted(osp.basename(p) for p in glob.glob(
        osp.join(str(tmp_path), 'iter_*'))) == ['iter_2.pth', 'iter_4.pth']


def test_skip_leaves_weights_optimizer_and_buffers_untouched(tmp_path):
    snapshots = Snapshots()
    runner = toy_runner(
        tmp_path, ToyModel(nan_iters=[3, 4]),
        dict(checkpoint=checkpoint_hook(),
             finite_loss=dict(type='FiniteLossHook', action='skip')),
        custom_hooks=[snapshots])
    runner.train()  # finishes
    states = snapshots.states
    for it in (3, 4):  # skipped: everything as after iteration 2
        for key, value in states[2]['model'].items():
            assert torch.equal(states[it]['model'][key], value), (it, key)
        for a, b in zip(states[it]['momentum'], states[2]['momentum']):
            assert torch.equal(a, b)
    assert not torch.equal(states[5]['model']['linear.weight'],
                           states[2]['model']['linear.weight'])
    final = torch.load(osp.join(str(tmp_path), 'iter_6.pth'))
    assert final['meta']['iter'] == 6
    assert all_finite(final['state_dict'])


def test_skip_gives_up_after_max_consecutive_skips(tmp_path):
    runner = toy_runner(
        tmp_path, ToyModel(nan_iters=range(3, 7)),
        dict(checkpoint=checkpoint_hook(),
             finite_loss=dict(type='FiniteLossHook', action='skip',
                              max_consecutive_skips=2)))
    with pytest.raises(NonFiniteError, match=r'Iteration 5: the loss is nan '
                       r'\(3 bad iterations in a row.*iter_4\.pth'):
        runner.train()


def test_non_finite_gradient_with_finite_loss_is_dropped(tmp_path):
    """A gradient can overflow while the loss is finite (here a hook makes
    it so): the step is still kept out of the weights."""

    class PoisonGradient(Hook):
        priority = 'HIGHEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter + 1 == 3:
                runner.model.linear.weight.register_hook(
                    lambda g: torch.full_like(g, float('inf')))

    runner = toy_runner(tmp_path, ToyModel(),
                        dict(checkpoint=checkpoint_hook(),
                             finite_loss=dict(type='FiniteLossHook')),
                        custom_hooks=[PoisonGradient()])
    with pytest.raises(NonFiniteError,
                       match='Iteration 3: the gradients are not finite'):
        runner.train()
    assert torch.isfinite(runner.model.linear.weight).all()


def test_non_finite_weights_are_never_saved(tmp_path):
    """Without FiniteLossHook NaN reaches the weights; the checkpoint hook
    refuses to write them and the previous checkpoint stays the latest."""
    runner = toy_runner(tmp_path, ToyModel(nan_iters=[3]),
                        dict(checkpoint=checkpoint_hook(max_keep_ckpts=1)))
    with pytest.raises(NonFiniteError) as info:
        runner.train()
    message = str(info.value)
    assert 'Iteration 4' in message and 'not finite' in message
    assert 'linear.weight' in message
    assert osp.join(str(tmp_path), 'iter_2.pth') in message
    with open(osp.join(str(tmp_path), 'last_checkpoint')) as f:
        assert f.read() == osp.join(str(tmp_path), 'iter_2.pth')
    assert sorted(osp.basename(p) for p in glob.glob(
        osp.join(str(tmp_path), 'iter_*'))) == ['iter_2.pth']
    assert all_finite(torch.load(osp.join(str(tmp_path),
                                          'iter_2.pth'))['state_dict'])


def test_pruning_never_deletes_what_last_checkpoint_names(tmp_path):
    runner = toy_runner(tmp_path, ToyModel(),
                        dict(checkpoint=checkpoint_hook(max_keep_ckpts=1)),
                        max_iters=4)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, SafeCheckpointHook))
    assert sorted(osp.basename(p) for p in glob.glob(
        osp.join(str(tmp_path), 'iter_*'))) == ['iter_4.pth']
    hook._remove_checkpoint(runner, 4)  # named by last_checkpoint
    assert osp.isfile(osp.join(str(tmp_path), 'iter_4.pth'))


@pytest.mark.parametrize('kwargs', [
    dict(action='ignore'), dict(max_consecutive_skips=0),
    dict(max_consecutive_skips=True)
])
def test_finite_loss_hook_arguments(kwargs):
    with pytest.raises(ValueError,
                       match=next(iter(kwargs)).split('_')[0]):
        FiniteLossHook(**kwargs)


def test_epoch_based_runs_save_and_resume_the_same_way(tmp_path):
    """Classification configs checkpoint by epoch."""
    hooks = dict(checkpoint=dict(type='SafeCheckpointHook', interval=1,
                                 max_keep_ckpts=1))
    epochs = dict(by_epoch=True, max_epochs=2)
    runner = toy_runner(tmp_path, ToyModel(), hooks, train_cfg=epochs)
    runner.train()
    latest = osp.join(str(tmp_path), 'epoch_2.pth')
    with open(osp.join(str(tmp_path), 'last_checkpoint')) as f:
        assert f.read() == latest
    assert glob.glob(osp.join(str(tmp_path), '*.pth')) == [latest]
    runner = toy_runner(tmp_path, ToyModel(), hooks, resume=True,
                        train_cfg=dict(epochs, max_epochs=3))
    runner.train()
    assert runner.epoch == 3
    assert load_local_checkpoint(osp.join(str(tmp_path), 'epoch_3.pth'))[
        'meta']['epoch'] == 3
    assert not osp.exists(latest)


@pytest.mark.parametrize('kwargs', [
    dict(interval=2.5), dict(max_keep_ckpts='2'), dict(by_epoch='no'),
    dict(save_optimizer=1)
])
def test_safe_checkpoint_hook_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SafeCheckpointHook(**kwargs)
