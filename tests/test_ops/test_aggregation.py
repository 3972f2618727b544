"""``padseg.ops.aggregation``: the hidden-prior aggregations (section 3.2)
and their start-up states (``prior_init``)."""
import math

import pytest
import torch
from mmengine.model import BaseModule
from torch import nn

from padseg.models.backbones import PADResNet
from padseg.ops import PADConv2d
from padseg.ops.aggregation import (BASE_PRIOR_BIAS, PRIOR_INITS,
                                    build_aggregation)

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
        assert param.abs().max() <= bound and param.std() > bound / 4, name
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
