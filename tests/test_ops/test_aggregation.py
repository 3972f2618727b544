"""``padseg.ops.aggregation``: the hidden-prior aggregations (section 3.2)
and their start-up states (``prior_init``)."""
import math

import pytest
import torch
from mmengine.model import BaseModule
from torch import nn

from padseg.models.backbones import PADResNet
from padseg.ops import PADConv2d
from padseg.ops.aggregation import (BASE_PRIOR_BIAS, DEFAULT_GAIN,
                                    PRIOR_INITS, build_aggregation)

AGGREGATIONS = ('markov', 'recurrent', 'gated')


def soft_probabilities(layer, x):
    """The evaluation-time dilation probabilities softmax(h / tau)."""
    layer.eval()
    layer.inference = 'soft'
    layer.recording = True
    with torch.no_grad():
        layer(x)
    return layer.last_probs


@pytest.mark.parametrize('aggregation', AGGREGATIONS)
def test_base_start_prefers_the_base_dilation_everywhere(aggregation):
    layer = PADConv2d(4, 4, 3, padding=1, dilations=(1, 2, 4),
                      aggregation=aggregation)
    assert layer.aggregation.prior_init == 'base'
    probs = soft_probabilities(layer, torch.randn(2, 4, 9, 9))
    # the gate starts at 0.5 and halves the input term
    h = BASE_PRIOR_BIAS / (2 if aggregation == 'gated' else 1)
    expected = math.exp(h) / (math.exp(h) + 2)
    assert torch.allclose(probs[:, 0], torch.full_like(probs[:, 0], expected),
                          atol=1e-5)


@pytest.mark.parametrize('aggregation', AGGREGATIONS)
def test_uniform_start_gives_every_candidate_the_same_chance(aggregation):
    layer = PADConv2d(4, 4, 3, padding=1, dilations=(1, 2, 4),
                      aggregation=aggregation, prior_init='uniform')
    assert all(not p.any() for p in layer.aggregation.parameters())
    probs = soft_probabilities(layer, torch.randn(2, 4, 9, 9))
    assert torch.allclose(probs, torch.full_like(probs, 1 / 3), atol=1e-6)


@pytest.mark.parametrize('aggregation', AGGREGATIONS)
def test_random_start_is_pytorchs_default_for_1x1_kernels(aggregation):
    torch.manual_seed(0)
    layer = PADConv2d(16, 4, 3, padding=1, dilations=(1, 2, 4),
                      aggregation=aggregation, prior_init='random')
    params = dict(layer.aggregation.named_parameters())
    for name, param in params.items():
        fan_in = (params[name[:-len('_bias')]] if name.endswith('_bias')
                  else param).shape[1]
        bound = 1 / math.sqrt(fan_in)
        weight = layer.aggregation.scaled(param)  # as the equations use it
        assert weight.abs().max() <= bound and weight.std() > bound / 4, name
    # the prior depends on the input from the first step
    probs = soft_probabilities(layer, torch.randn(2, 16, 9, 9))
    assert probs.std(dim=(0, 2, 3)).min() > 1e-3


class _Parent(BaseModule):
    def __init__(self):
        super().__init__(init_cfg=dict(type='Kaiming', layer='Conv2d'))
        self.pad = PADConv2d(4, 4, 3, padding=1, prior_init='uniform')


def test_a_parents_init_weights_keeps_the_chosen_start():
    parent = _Parent()
    parent.init_weights()
    assert not parent.pad.aggregation.u_h_bias.any()


@pytest.mark.parametrize('value', ['Base', 'zeros', None, 1])
def test_a_wrong_prior_init_is_named(value):
    with pytest.raises(ValueError, match='prior_init'):
        PADConv2d(4, 4, 3, padding=1, prior_init=value)
    with pytest.raises(ValueError, match='prior_init'):
        PADResNet(depth=18, pad_cfg=dict(prior_init=value))


def test_backbones_take_prior_init_in_pad_cfg():
    model = PADResNet(depth=18, pad_cfg=dict(prior_init='uniform'))
    layers = [m for m in model.modules() if isinstance(m, PADConv2d)]
    assert layers and all(layer.aggregation.prior_init == 'uniform'
                          for layer in layers)
    assert PRIOR_INITS == ('base', 'uniform', 'random')


class _OwnAggregation(nn.Module):
    uses_previous_prior = False

    def __init__(self, in_channels, num_candidates, base_index, act_cfg):
        super().__init__()
        self.u = nn.Parameter(torch.zeros(num_candidates, in_channels))

    def forward(self, y, prev_prior):
        return torch.einsum('dc,nchw->ndhw', self.u, y)


def test_an_aggregation_of_ones_own_needs_no_prior_init():
    from mmengine.registry import MODELS
    MODELS.register_module(module=_OwnAggregation, force=True)
    built = build_aggregation('_OwnAggregation', 4, 3, 0, dict(type='ELU'))
    assert isinstance(built, _OwnAggregation)
    with pytest.raises(TypeError, match='prior_init'):
        build_aggregation('_OwnAggregation', 4, 3, 0, dict(type='ELU'),
                          prior_init='uniform')


def test_an_aggregation_of_ones_own_needs_no_gain():
    """The layer's default gain is the aggregation's own: one of a user's
    own builds under PADConv2d's defaults; a gain asked for is passed on."""
    from mmengine.registry import MODELS
    MODELS.register_module(module=_OwnAggregation, force=True)
    layer = PADConv2d(4, 4, 3, padding=1, aggregation='_OwnAggregation')
    assert isinstance(layer.aggregation, _OwnAggregation)
    assert PADConv2d(4, 4, 3, padding=1).aggregation.gain == DEFAULT_GAIN
    with pytest.raises(TypeError, match='gain'):
        PADConv2d(4, 4, 3, padding=1, aggregation='_OwnAggregation',
                  prior_gain=10.0)


def _randomised(layer, seed=0):
    """Give every prior weight a random value (as training would)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in layer.aggregation.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    return layer


@pytest.mark.parametrize('aggregation', AGGREGATIONS)
@pytest.mark.parametrize('prior_init', PRIOR_INITS)
def test_the_gain_changes_the_speed_not_the_function(aggregation, prior_init):
    """Same start-up prior at any gain; the same effective weights give the
    same prior; stored weights are the effective ones over the gain."""
    x = torch.randn(2, 6, 9, 9)
    layers = {}
    for gain in (1.0, 10.0):
        torch.manual_seed(0)
        layers[gain] = PADConv2d(6, 6, 3, padding=1, aggregation=aggregation,
                                 prior_init=prior_init, prior_gain=gain)
    start = [layers[g].hidden_prior(x) for g in (1.0, 10.0)]
    assert torch.allclose(start[0], start[1], atol=1e-5)
    _randomised(layers[1.0])
    with torch.no_grad():
        for one, ten in zip(layers[1.0].aggregation.parameters(),
                            layers[10.0].aggregation.parameters()):
            ten.copy_(one / 10)
    assert torch.allclose(layers[1.0].hidden_prior(x),
                          layers[10.0].hidden_prior(x), atol=1e-5)


@pytest.mark.parametrize('optimizer, speed', [('Adam', 10.0), ('SGD', 100.0)])
def test_a_gain_of_ten_moves_the_prior_faster_under_any_optimizer(
        optimizer, speed):
    """One optimizer step from the same start: the effective weights move
    10x as far under Adam (its step ignores the gradient's scale) and 100x
    under SGD, with one learning rate for every parameter."""
    x = torch.randn(2, 6, 9, 9)
    moved = {}
    for gain in (1.0, 10.0):
        torch.manual_seed(0)
        layer = _randomised(PADConv2d(6, 6, 3, padding=1, prior_gain=gain))
        with torch.no_grad():  # the same effective weights at both gains
            for param in layer.aggregation.parameters():
                param.div_(gain)
        before = layer.aggregation.scaled(
            layer.aggregation.u_h).detach().clone()
        step = getattr(torch.optim, optimizer)(layer.parameters(), lr=1e-3)
        layer.hidden_prior(x).pow(2).sum().backward()
        step.step()
        after = layer.aggregation.scaled(layer.aggregation.u_h).detach()
        moved[gain] = (after - before).abs().sum().item()
    assert moved[10.0] == pytest.approx(speed * moved[1.0], rel=1e-3)


@pytest.mark.parametrize('aggregation', AGGREGATIONS)
def test_a_checkpoint_loads_as_the_same_function_at_another_gain(aggregation):
    x = torch.randn(2, 6, 9, 9)
    saved = _randomised(PADConv2d(6, 6, 3, padding=1, aggregation=aggregation,
                                  prior_gain=10.0))
    state = saved.state_dict()
    assert float(state['aggregation.gain']) == 10.0
    for gain in (1.0, 3.0, 10.0):
        layer = PADConv2d(6, 6, 3, padding=1, aggregation=aggregation,
                          prior_gain=gain)
        result = layer.load_state_dict(state)
        assert not result.missing_keys and not result.unexpected_keys
        assert torch.allclose(layer.hidden_prior(x), saved.hidden_prior(x),
                              atol=1e-5)
        assert layer.aggregation.gain == gain
    # a checkpoint from before the gain (no 'gain' key) was saved at gain 1
    old_layer = _randomised(PADConv2d(6, 6, 3, padding=1,
                                      aggregation=aggregation,
                                      prior_gain=1.0))
    old = {k: v for k, v in old_layer.state_dict().items()
           if k != 'aggregation.gain'}
    fast = PADConv2d(6, 6, 3, padding=1, aggregation=aggregation)
    assert fast.aggregation.gain == 10.0  # the layer's default
    fast.load_state_dict(old)
    assert torch.allclose(fast.hidden_prior(x), old_layer.hidden_prior(x),
                          atol=1e-5)


@pytest.mark.parametrize('gain', [0, -1.0, float('inf'), True, '10'])
def test_a_wrong_gain_is_named(gain):
    with pytest.raises(ValueError, match='prior gain'):
        PADConv2d(4, 4, 3, padding=1, prior_gain=gain)
