"""Dilation laws, maps and statistics of PAD layers."""
import math

import pytest
import torch
from torch import nn

from padseg.analysis import (DilationStatistics, dilation_law, dilation_maps,
                             draw_statistics, record_priors)
from padseg.ops import PADConv2d, link_pad_chain, pad_layers, record_dilations


def pad_net(aggregation='markov'):
    net = nn.Sequential(
        PADConv2d(3, 4, 3, padding=1, aggregation=aggregation),
        nn.ReLU(),
        PADConv2d(4, 4, 3, padding=2, dilation=2, aggregation=aggregation))
    with torch.no_grad():
        for _, layer in pad_layers(net):
            # priors of std 2 (stored over the aggregation's gain)
            layer.aggregation.u_h.normal_(0, 2.0 / layer.aggregation.gain)
    link_pad_chain(net)
    return net


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
def test_priors_are_what_the_layers_sample_from(aggregation):
    net = pad_net(aggregation).eval()
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        expected = net(x)
        with record_priors(net) as priors, record_dilations(net) as layers:
            output = net(x)
            # in argmax evaluation the layer uses the argmax of its prior
            for name, layer in layers.items():
                one_hot = torch.zeros_like(priors[name]).scatter_(
                    1, priors[name].argmax(1, keepdim=True), 1.0)
                torch.testing.assert_close(layer.last_probs, one_hot)
    torch.testing.assert_close(output, expected, rtol=0, atol=0)
    assert list(priors) == ['0', '2']
    assert all(p.shape == (2, 3, 12, 12) for p in priors.values())
    # the hooks are gone: a new pass records nothing
    priors.clear()
    with torch.no_grad():
        net(x)
    assert priors == {}


def test_law_and_training_samples_sum_to_one_per_pixel():
    net = pad_net().train()
    x = torch.randn(2, 3, 10, 10)
    with record_priors(net) as priors, record_dilations(net) as layers:
        net(x)
    for name, prior in priors.items():
        law = dilation_law(prior)
        torch.testing.assert_close(law.sum(1), torch.ones(2, 10, 10))
        assert (law > 0).all()
    for layer in layers.values():
        assert layer.last_probs is None  # dropped on exit
    with record_dilations(net) as layers:
        net(x)
        for layer in layers.values():
            torch.testing.assert_close(layer.last_probs.sum(1),
                                       torch.ones(2, 10, 10))


def test_maps_use_actual_dilations():
    net = pad_net().eval()
    layers = dict(pad_layers(net))
    with record_priors(net) as priors, torch.no_grad():
        net(torch.randn(1, 3, 8, 8))
    maps = dilation_maps(layers, priors)
    expected, selected = maps['2']  # dilation 2: candidates 2, 4, 8
    assert set(selected.unique().tolist()) <= {2.0, 4.0, 8.0}
    assert (expected > 2).all() and (expected < 8).all()
    law = dilation_law(priors['2'])
    torch.testing.assert_close(
        expected, (law * torch.tensor([2., 4., 8.]).view(1, 3, 1, 1)).sum(1))


def test_statistics_match_a_hand_computation():
    layer = PADConv2d(1, 1, 3, padding=1, dilations=(1, 2, 4))
    stats = DilationStatistics({'pad': layer})
    # two pixels: law (1, 0, 0) (almost) and uniform
    prior = torch.tensor([[[[50.0, 0.0]], [[0.0, 0.0]], [[0.0, 0.0]]]])
    stats.update({'pad': prior})
    summary = stats.summary()['pad']
    means = torch.tensor([1.0, 7 / 3])
    second = torch.tensor([1.0, 21 / 3])
    sampling = (second - means**2).mean()
    spatial = means.var(unbiased=False)
    assert summary['mean'] == pytest.approx(means.mean().item())
    assert summary['sampling_variance'] == pytest.approx(sampling.item())
    assert summary['spatial_variance'] == pytest.approx(spatial.item())
    assert summary['variance'] == pytest.approx((sampling + spatial).item())
    assert summary['selected_share'] == [1.0, 0.0, 0.0]  # ties go to 0
    assert summary['pixels'] == 2


def test_variance_is_the_variance_of_gumbel_draws():
    layer = PADConv2d(1, 1, 3, padding=1, dilations=(1, 2, 4))
    prior = torch.randn(2, 3, 6, 6)
    stats = DilationStatistics({'pad': layer})
    stats.update({'pad': prior[:1]})  # two updates pool their pixels
    stats.update({'pad': prior[1:]})
    summary = stats.summary()
    # many Gumbel-max draws of every pixel
    gumbel = -torch.log(-torch.log(torch.rand(4000, 2, 3, 6, 6)))
    draws = torch.tensor([1., 2., 4.])[(prior + gumbel).argmax(2)]
    assert summary['pad']['variance'] == pytest.approx(
        draws.var(unbiased=False).item(), rel=0.03)
    assert summary['pad']['mean'] == pytest.approx(draws.mean().item(),
                                                   rel=0.01)
    assert summary['model']['variance'] == summary['pad']['variance']


def test_draw_statistics_of_one_hot_samples():
    layer = PADConv2d(1, 1, 3, padding=2, dilation=2, dilations=(1, 2, 4))
    probs = torch.zeros(1, 3, 2, 2)
    probs[0, 0, 0, :] = 1  # two pixels draw 2
    probs[0, 2, 1, 0] = 1  # one draws 8
    probs[0, 1, 1, 1] = 1  # one draws 4
    stats = draw_statistics(layer, probs)
    values = torch.tensor([2., 2., 8., 4.])
    assert stats['mean_dilation'] == pytest.approx(values.mean().item())
    assert stats['variance'] == pytest.approx(
        values.var(unbiased=False).item())
    assert (stats['share_d2'], stats['share_d4'], stats['share_d8']) == (0.5,
                                                                         0.25,
                                                                         0.25)
    assert math.isclose(sum(v for k, v in stats.items()
                            if k.startswith('share')), 1.0)


def test_statistics_need_a_pass():
    with pytest.raises(RuntimeError, match='no PAD layer ran'):
        DilationStatistics({}).summary()
