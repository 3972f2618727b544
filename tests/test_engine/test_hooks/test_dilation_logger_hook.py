"""DilationLoggerHook: unit behaviour and a 4-iteration mmengine training."""
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import HOOKS
from mmengine.runner import Runner
from torch import nn

from padseg.engine.hooks import DilationLoggerHook
from padseg.ops import PADConv2d, pad_layers

# layer4's PAD layers and their candidates (the first block is contracted
# to dilation 2)
LAYERS = {'backbone.layer4.0.conv2': (2, 4, 8),
          'backbone.layer4.1.conv2': (4, 8, 16),
          'backbone.layer4.2.conv2': (4, 8, 16)}


def fake_runner(model, iteration, max_iters=100):
    return SimpleNamespace(model=model, iter=iteration, max_iters=max_iters,
                           message_hub=MessageHub.get_instance('dilation_log'))


def test_records_only_due_iterations_and_switches_recording_off():
    model = nn.Sequential(PADConv2d(3, 4, 3, padding=1),
                          PADConv2d(4, 4, 3, padding=1)).train()
    hook = HOOKS.build(dict(type='DilationLoggerHook', interval=5))
    runner = fake_runner(model, 3)  # iteration 4: not due
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert not any(layer.recording for _, layer in pad_layers(model))
    hook.after_train_iter(runner, 0)
    runner.iter = 4  # iteration 5: due
    hook.before_train_iter(runner, 0)
    assert all(layer.recording for _, layer in pad_layers(model))
    hook.after_train_iter(runner, 0)
    # the last iteration is recorded whatever the interval: a run's final
    # shares are always in its log
    runner.iter, runner.max_iters = 6, 7
    hook.before_train_iter(runner, 0)
    assert all(layer.recording for _, layer in pad_layers(model))
    model(torch.randn(2, 3, 6, 6))
    hook.after_train_iter(runner, 0)
    assert not any(layer.recording or layer.last_probs is not None
                   for _, layer in pad_layers(model))
    hub = runner.message_hub
    for name in ('0', '1'):
        shares = [hub.get_scalar(f'train/pad/{name}/share_d{d}').current()
                  for d in (1, 2, 4)]
        assert sum(shares) == pytest.approx(1.0)
        mean = hub.get_scalar(f'train/pad/{name}/mean_dilation').current()
        assert mean == pytest.approx(sum(s * d for s, d in zip(shares,
                                                               (1, 2, 4))))
        assert hub.get_scalar(f'train/pad/{name}/variance').current() >= 0


def test_entropy_and_prior_gradient_are_those_of_the_layers():
    """``entropy``: the mean entropy of ``softmax(h)``; ``prior_grad_norm``:
    the norm of dL/dh, the gradient autograd gives the prior itself."""
    model = nn.Sequential(PADConv2d(3, 4, 3, padding=1),
                          PADConv2d(4, 4, 3, padding=1,
                                    prior_init='uniform')).train()
    with torch.no_grad():
        for param in model[0].aggregation.parameters():
            param.normal_(0, 1.0)
    priors = []
    for layer in model:
        layer.aggregation.register_forward_hook(
            lambda module, args, h: h.retain_grad() or priors.append(h))
    hook = HOOKS.build(dict(type='DilationLoggerHook', interval=1))
    runner = fake_runner(model, 0)
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    out = model(torch.randn(2, 3, 6, 6))
    (out * torch.randn_like(out)).sum().backward()
    hook.after_train_iter(runner, 0)
    hub = runner.message_hub
    for name, h in zip(('0', '1'), priors):
        pi = torch.softmax(h.detach(), 1)
        entropy = -(pi * pi.log()).sum(1).mean().item()
        assert hub.get_scalar(f'train/pad/{name}/entropy').current() == \
            pytest.approx(entropy, rel=1e-5)
        assert hub.get_scalar(f'train/pad/{name}/prior_grad_norm').current() \
            == pytest.approx(h.grad.norm().item(), rel=1e-5)
    # the uniform start: every candidate equally likely, log 3 nats
    assert hub.get_scalar('train/pad/1/entropy').current() == pytest.approx(
        torch.log(torch.tensor(3.0)).item())
    assert all(layer.last_prior_grad is None for layer in model)


def test_bad_arguments_and_no_pad_layer():
    with pytest.raises(ValueError, match='interval'):
        DilationLoggerHook(interval=0)
    with pytest.raises(ValueError, match='image_index'):
        DilationLoggerHook(image_index=-1)
    with pytest.raises(RuntimeError, match='no PAD layer'):
        DilationLoggerHook().before_train(fake_runner(nn.Conv2d(1, 1, 1), 0))


def test_four_training_iterations_log_dilations_and_an_image(
        tiny, tmp_path):
    cfg = Config.fromfile(tiny.pad_config)
    cfg.merge_from_dict(dict(
        item.split('=', 1) for item in tiny.cfg_options))
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks.logger.interval = 2
    cfg.custom_hooks = [dict(type='DilationLoggerHook', interval=2,
                             log_image=True, image_index=1)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    for name, candidates in LAYERS.items():
        history = hub.get_scalar(f'train/pad/{name}/mean_dilation')
        assert len(history.data[0]) == 2  # iterations 2 and 4
        assert candidates[0] <= history.current() <= candidates[-1]
        assert sum(hub.get_scalar(f'train/pad/{name}/share_d{d}').current()
                   for d in candidates) == pytest.approx(1.0)
    assert not any(layer.recording for _, layer in pad_layers(runner.model))
    vis_dir = osp.join(runner.log_dir, 'vis_data')
    with open(osp.join(vis_dir, 'scalars.json')) as f:
        logged = [json.loads(line) for line in f]
    logged = [entry for entry in logged if 'loss' in entry]  # training
    assert [entry['step'] for entry in logged] == [2, 4]
    assert all(f'pad/{name}/variance' in entry for entry in logged
               for name in LAYERS)
    for entry in logged:  # "is my PAD learning?"
        for name in LAYERS:
            assert 0 <= entry[f'pad/{name}/entropy'] <= torch.log(
                torch.tensor(3.0)).item() + 1e-6
            assert 0 < entry[f'pad/{name}/prior_grad_norm'] < float('inf')
    for step in (2, 4):
        assert osp.isfile(osp.join(vis_dir, 'vis_image',
                                   f'pad_dilation_map_{step}.png'))
