"""TauAnnealingHook and its schedules."""
from types import SimpleNamespace

import pytest
from helpers.reliability import trained  # noqa: F401  (fixture)
from mmengine.logging import MessageHub
from mmengine.registry import HOOKS
from torch import nn

from padseg.engine.hooks import TauAnnealingHook, annealed_tau
from padseg.ops import PADConv2d


@pytest.mark.parametrize('schedule', ['linear', 'exponential', 'cosine'])
def test_schedule_endpoints_and_monotonic(schedule):
    values = [annealed_tau(2.0, 0.5, p / 10, schedule) for p in range(11)]
    assert values[0] == pytest.approx(2.0)
    assert values[-1] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert annealed_tau(2.0, 0.5, 3.0, schedule) == pytest.approx(0.5)


def test_exponential_midpoint_is_geometric_mean():
    assert annealed_tau(4.0, 1.0, 0.5, 'exponential') == pytest.approx(2.0)
    assert annealed_tau(4.0, 1.0, 0.5, 'linear') == pytest.approx(2.5)


def fake_runner(model, iteration, max_iters):
    return SimpleNamespace(model=model, iter=iteration, max_iters=max_iters,
                           message_hub=MessageHub.get_instance('tau_test'))


def test_hook_sets_every_pad_layer_and_logs():
    model = nn.Sequential(PADConv2d(3, 3, 3, padding=1),
                          nn.Sequential(PADConv2d(3, 3, 3, padding=1)))
    hook = HOOKS.build(dict(type='TauAnnealingHook', start=1.0, end=0.25,
                            schedule='linear'))
    runner = fake_runner(model, 50, 100)
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert model[0].tau == pytest.approx(0.625)
    assert model[1][0].tau == pytest.approx(0.625)
    assert runner.message_hub.get_scalar('train/tau').current() == \
        pytest.approx(0.625)
    # resuming at iteration 100 continues the schedule, it does not restart
    runner.iter = 100
    hook.before_train_iter(runner, 0)
    assert model[0].tau == pytest.approx(0.25)


def test_hook_total_iters_overrides_max_iters():
    model = nn.Sequential(PADConv2d(3, 3, 3, padding=1))
    hook = TauAnnealingHook(start=1.0, end=0.5, schedule='linear',
                            total_iters=10)
    hook.before_train_iter(fake_runner(model, 5, 1000), 0)
    assert model[0].tau == pytest.approx(0.75)


def test_hook_without_pad_layers_is_an_error():
    with pytest.raises(RuntimeError, match='no PAD layer'):
        TauAnnealingHook().before_train(fake_runner(nn.Conv2d(1, 1, 1), 0, 1))


@pytest.mark.parametrize('kwargs,match', [
    (dict(start=0), 'start'), (dict(end=-1.0), 'end'),
    (dict(schedule='step'), 'schedule'), (dict(total_iters=0), 'total_iters')
])
def test_bad_hook_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TauAnnealingHook(**kwargs)


def test_checkpoints_carry_the_annealed_tau(trained, tmp_path):
    """A run annealed tau (1.0 -> 0.1 over 2 iterations, exponential); its
    checkpoint's evaluation (tools/test.py's path: load_from + test) uses the
    annealed value, not the config's start value."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from padseg.ops import pad_layers
    config, work, _ = trained
    expected = annealed_tau(1.0, 0.1, 1 / 2, 'exponential')  # iteration 2
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'test')
    cfg.load_from = f'{work}/iter_2.pth'
    cfg.experiment_name = 'tau_in_checkpoint'
    runner = Runner.from_cfg(cfg)
    layers = [layer for _, layer in pad_layers(runner.model)]
    assert layers and all(layer.tau == 1.0 for layer in layers)
    runner.test()
    assert all(abs(layer.tau - expected) < 1e-6 for layer in layers)
