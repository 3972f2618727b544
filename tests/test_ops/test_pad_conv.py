"""The PAD convolution against the paper's equations (1)-(5)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmengine.registry import DefaultScope
from torch import nn

from padseg.ops import (GatedAggregation, MarkovAggregation, PADConv2d,
                        RecurrentAggregation, gumbel_softmax, link_pad_chain,
                        pad_conv2d_reference, record_dilations)

AGGREGATIONS = ('markov', 'recurrent', 'gated')


def force_candidate(layer: PADConv2d, index: int) -> None:
    """Make the prior pick candidate ``index`` everywhere."""
    with torch.no_grad():
        layer.aggregation.u_h.zero_()
        layer.aggregation.u_h_bias.fill_(-3.0)
        layer.aggregation.u_h_bias[index] = 3.0


def randomise_prior(layer: PADConv2d, scale: float = 1.0) -> None:
    with torch.no_grad():
        for param in layer.aggregation.parameters():
            param.normal_(0, scale)


@pytest.mark.parametrize('stride,groups,base_dilation', [(1, 1, 1), (2, 1, 1),
                                                          (1, 4, 2), (2, 8, 1)])
def test_one_hot_prior_selects_exactly_that_dilation(stride, groups,
                                                     base_dilation):
    layer = PADConv2d(8, 16, 3, stride=stride, padding=base_dilation,
                      dilation=base_dilation, groups=groups,
                      dilations=(1, 2, 4)).eval()
    x = torch.randn(2, 8, 17, 21)
    for index, multiplier in enumerate((1, 2, 4)):
        force_candidate(layer, index)
        d = multiplier * base_dilation
        expected = F.conv2d(x, layer.weight, layer.bias, stride, d, d, groups)
        torch.testing.assert_close(layer(x), expected)


def test_candidate_dilations_multiply_the_built_dilation():
    layer = PADConv2d(4, 4, 3, padding=2, dilation=2, dilations=(1, 2, 4))
    assert layer.candidate_dilations == [(2, 2), (4, 4), (8, 8)]
    assert layer.candidate_paddings == [(2, 2), (4, 4), (8, 8)]
    five = PADConv2d(4, 4, 5, padding=2, dilations=(1, 3))
    assert five.candidate_paddings == [(2, 2), (6, 6)]


def test_training_matches_equation_2_reference():
    """Soft training output == sum_k softmax((h + g) / tau)_k * conv_k + b."""
    layer = PADConv2d(6, 5, 3, padding=1, dilations=(1, 2, 4), tau=0.7).train()
    randomise_prior(layer)
    x = torch.randn(2, 6, 9, 11)
    torch.manual_seed(123)
    out = layer(x)

    agg = layer.aggregation
    # eq. 3 (Markov) with the weights as the equations use them
    h = F.elu(F.conv2d(x, agg.scaled(agg.u_h)[:, :, None, None],
                       agg.scaled(agg.u_h_bias)))
    torch.manual_seed(123)
    u = torch.rand_like(h).clamp(1e-10, 1 - torch.finfo(torch.float32).eps)
    d = torch.softmax((h - torch.log(-torch.log(u))) / 0.7, dim=1)
    expected = layer.bias.view(1, -1, 1, 1) + sum(
        d[:, k:k + 1] * F.conv2d(x, layer.weight, None, 1, m, m)
        for k, m in enumerate((1, 2, 4)))
    torch.testing.assert_close(out, expected)


def test_hard_training_is_one_hot_forward_with_soft_gradient():
    layer = PADConv2d(4, 4, 3, padding=1, hard=True).train()
    randomise_prior(layer)
    x = torch.randn(1, 4, 8, 8)
    with record_dilations(layer):
        layer(x).sum().backward()
        probs = layer.last_probs
    assert set(probs.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(probs.sum(1) == 1)
    assert layer.aggregation.u_h.grad.abs().sum() > 0


def test_straight_through_gradient_is_exactly_the_soft_samples():
    """With the Gumbel noise fixed, the hard sample's gradient is the soft
    sample's: for the sample itself, and for the prior's parameters of a PAD
    layer under a loss linear in its output (whose gradient with respect to
    the probabilities then does not depend on them)."""
    logits = torch.randn(2, 3, 5, 4, requires_grad=True)
    weights = torch.randn(2, 3, 5, 4)
    grads = []
    for hard in (False, True):
        torch.manual_seed(7)
        sample = gumbel_softmax(logits, 0.7, hard=hard)
        grads.append(torch.autograd.grad((sample * weights).sum(), logits)[0])
    assert set(sample.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=0)
    layer = PADConv2d(16, 8, 3, padding=1).train()
    randomise_prior(layer)
    x = torch.randn(2, 16, 7, 6)
    coef = torch.randn(2, 8, 7, 6)
    prior_grads = []
    for hard in (False, True):
        layer.hard = hard
        torch.manual_seed(3)
        loss = (layer(x) * coef).sum()
        prior_grads.append(torch.autograd.grad(
            loss, list(layer.aggregation.parameters())))
    for soft, straight in zip(*prior_grads):
        torch.testing.assert_close(straight, soft, rtol=1e-5, atol=1e-6)


def test_eval_is_deterministic_and_soft_mode_is_the_expectation():
    layer = PADConv2d(4, 4, 3, padding=1, inference='soft', tau=2.0).eval()
    randomise_prior(layer)
    x = torch.randn(2, 4, 10, 10)
    torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
    agg = layer.aggregation
    # eq. 3 (Markov) with the weights as the equations use them
    h = F.elu(F.conv2d(x, agg.scaled(agg.u_h)[:, :, None, None],
                       agg.scaled(agg.u_h_bias)))
    probs = torch.softmax(h / 2.0, dim=1)
    expected = pad_conv2d_reference(x, layer.weight, layer.bias, probs,
                                     (1, 1), layer.candidate_paddings,
                                     layer.candidate_dilations, 1)
    torch.testing.assert_close(layer(x), expected)

    layer.inference = 'argmax'
    with record_dilations(layer):
        layer(x)
        chosen = layer.last_probs
    torch.testing.assert_close(chosen.argmax(1), h.argmax(1))
    assert set(chosen.unique().tolist()) == {0.0, 1.0}


def test_markov_has_no_previous_prior_weights():
    layer = PADConv2d(4, 4, 3, padding=1, aggregation='markov')
    assert isinstance(layer.aggregation, MarkovAggregation)
    names = {name for name, _ in layer.aggregation.named_parameters()}
    assert names == {'u_h', 'u_h_bias'}


def make_chain(aggregation, **kwargs):
    net = nn.Sequential(
        PADConv2d(3, 6, 3, padding=1, aggregation=aggregation, **kwargs),
        nn.ReLU(),
        PADConv2d(6, 6, 3, stride=2, padding=1, aggregation=aggregation,
                  **kwargs))
    link_pad_chain(net)
    for layer in (net[0], net[2]):
        randomise_prior(layer)
    return net


def conv1x1(x, weight, bias=None):
    return F.conv2d(x, weight[:, :, None, None], bias)


def test_recurrent_aggregation_is_equation_3():
    agg = RecurrentAggregation(6, 3)
    for param in agg.parameters():  # unit-normal effective weights
        nn.init.normal_(param, std=1 / agg.gain)
    y, prev = torch.randn(2, 6, 5, 7), torch.randn(2, 3, 5, 7)
    w = agg.scaled  # the weights as the equations use them
    expected = F.elu(
        conv1x1(prev, w(agg.w_h)) + conv1x1(y, w(agg.u_h), w(agg.u_h_bias)))
    torch.testing.assert_close(agg(y, prev), expected)


def test_gated_aggregation_is_equations_4_and_5():
    agg = GatedAggregation(6, 3)
    for param in agg.parameters():  # unit-normal effective weights
        nn.init.normal_(param, std=1 / agg.gain)
    y, prev = torch.randn(2, 6, 5, 7), torch.randn(2, 3, 5, 7)
    w = agg.scaled  # the weights as the equations use them
    gate = torch.sigmoid(
        conv1x1(prev, w(agg.w_a)) + conv1x1(y, w(agg.u_a), w(agg.u_a_bias)))
    expected = F.elu(gate * conv1x1(prev, w(agg.w_h)) +
                     (1 - gate) * conv1x1(y, w(agg.u_h), w(agg.u_h_bias)))
    torch.testing.assert_close(agg(y, prev), expected)


@pytest.mark.parametrize('aggregation', ['recurrent', 'gated'])
def test_chained_layer_receives_the_previous_layers_prior(aggregation):
    net = make_chain(aggregation, inference='soft').eval()
    x = torch.randn(2, 3, 12, 12)
    with record_dilations(net):
        out = net(x)
        probs = net[2].last_probs
    # by hand: layer 1's prior, resized to layer 2's (stride 2) grid
    first = net[0].aggregation(x, None)
    feats = net[1](net[0](x))
    prev = F.interpolate(first, size=(6, 6), mode='bilinear',
                         align_corners=False)
    second = net[2].aggregation(feats[:, :, ::2, ::2], prev)
    torch.testing.assert_close(probs, torch.softmax(second, dim=1))
    alone = net[2].aggregation(feats[:, :, ::2, ::2], None)
    assert not torch.allclose(second, alone)
    assert out.shape == (2, 6, 6, 6)


def test_markov_chain_ignores_previous_prior():
    net = make_chain('markov', inference='soft').eval()
    feats = torch.randn(2, 6, 12, 12)
    net[2].chain.prior = None
    alone = net[2].hidden_prior(feats)
    net[2].chain.prior = torch.randn(2, 3, 12, 12)
    torch.testing.assert_close(net[2].hidden_prior(feats), alone)


@pytest.mark.parametrize('aggregation,names', [
    ('markov', {'u_h', 'u_h_bias'}),
    ('recurrent', {'u_h', 'u_h_bias', 'w_h'}),
    ('gated', {'u_h', 'u_h_bias', 'w_h', 'w_a', 'u_a', 'u_a_bias'}),
])
def test_gradients_reach_every_weight(aggregation, names):
    net = make_chain(aggregation).train()
    net(torch.randn(2, 3, 12, 12)).square().mean().backward()
    second = net[2]
    assert second.weight.grad.abs().sum() > 0
    got = {n for n, p in second.aggregation.named_parameters()
           if p.grad is not None and p.grad.abs().sum() > 0}
    assert got == names
    # the first layer of a chain starts from zero: W_h gets a (zero) gradient
    # so no parameter is left without one (DDP-safe)
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize('aggregation', AGGREGATIONS)
def test_chain_batch_equals_images_one_by_one_and_repeats(aggregation):
    net = make_chain(aggregation, inference='soft').eval()
    x = torch.randn(3, 3, 12, 12)
    batch = net(x)
    singles = torch.cat([net(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, singles, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net(x), batch)  # second call: fresh chain
    assert net[0].chain.prior is None  # nothing outlives the pass


def test_deepcopy_of_linked_network_keeps_its_own_chain():
    net = make_chain('gated', inference='soft').eval()
    twin = copy.deepcopy(net)
    assert twin[0].chain is twin[2].chain
    assert twin[0].chain is not net[0].chain
    x = torch.randn(1, 3, 12, 12)
    torch.testing.assert_close(twin(x), net(x))


def test_unlinked_chained_aggregation_warns_once():
    layer = PADConv2d(3, 3, 3, padding=1, aggregation='gated')
    with pytest.warns(UserWarning, match='not linked'):
        layer(torch.randn(1, 3, 5, 5))


def test_chain_rejects_mismatched_candidate_counts():
    net = nn.Sequential(
        PADConv2d(3, 3, 3, padding=1, dilations=(1, 2)),
        PADConv2d(3, 3, 3, padding=1, dilations=(1, 2, 4),
                  aggregation='recurrent'))
    link_pad_chain(net)
    with pytest.raises(ValueError, match='candidate dilations'):
        net(torch.randn(1, 3, 6, 6))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('training', [True, False])
def test_half_precision_outputs_are_finite(dtype, training):
    net = make_chain('gated').to(dtype).train(training)
    out = net(torch.randn(2, 3, 12, 12, dtype=dtype))
    assert out.dtype == dtype
    assert torch.isfinite(out).all()


def test_gumbel_noise_is_finite_for_extreme_uniforms(monkeypatch):
    logits = torch.zeros(1, 3, 2, 2, dtype=torch.float16)
    for value in (0.0, 1.0):
        monkeypatch.setattr(torch, 'rand_like',
                            lambda t, v=value: torch.full_like(t, v))
        probs = gumbel_softmax(logits, tau=0.01)
        assert probs.dtype == torch.float32
        assert torch.isfinite(probs).all()


@pytest.mark.parametrize('scope', ['mmseg', 'mmpretrain', 'mmengine'])
def test_build_conv_layer_in_every_scope(scope):
    if scope == 'mmpretrain':
        import mmpretrain.models  # noqa: F401
    else:
        import mmseg.models  # noqa: F401
    with DefaultScope.overwrite_default_scope(scope):
        layer = build_conv_layer(
            dict(type='PAD', dilations=(1, 2), aggregation='gated'), 4, 8, 3,
            stride=1, padding=1, dilation=1, bias=False)
    assert isinstance(layer, PADConv2d)
    assert layer.bias is None and layer.dilations == (1, 2)
    assert isinstance(layer.aggregation, GatedAggregation)


def test_aggregation_by_config_dict_and_fourth_aggregation():
    from mmengine.registry import MODELS

    layer = PADConv2d(4, 4, 3, padding=1,
                      aggregation=dict(type='RecurrentAggregation'))
    assert isinstance(layer.aggregation, RecurrentAggregation)

    @MODELS.register_module(force=True)
    class ConstantAggregation(MarkovAggregation):
        def forward(self, y, prev_prior):
            n, _, h, w = y.shape
            return y.new_zeros(n, self.num_candidates, h, w)

    layer = PADConv2d(4, 4, 3, padding=1, aggregation='ConstantAggregation')
    assert isinstance(layer.aggregation, ConstantAggregation)


def test_fresh_layer_equals_plain_conv_in_eval():
    plain = nn.Conv2d(8, 8, 3, padding=1)
    pad = PADConv2d(8, 8, 3, padding=1).eval()
    missing, unexpected = pad.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ['aggregation.u_h', 'aggregation.u_h_bias']
    assert unexpected == []
    x = torch.randn(2, 8, 16, 16)
    torch.testing.assert_close(pad(x), plain(x))


def test_parent_kaiming_init_does_not_touch_the_prior():
    from mmengine.model import BaseModule

    class Net(BaseModule):
        def __init__(self):
            super().__init__(init_cfg=dict(type='Kaiming', layer='Conv2d'))
            self.body = nn.Sequential(PADConv2d(4, 4, 3, padding=1))

    net = Net()
    net.init_weights()
    agg = net.body[0].aggregation
    assert torch.all(agg.u_h == 0)
    assert agg.scaled(agg.u_h_bias).tolist() == pytest.approx([3.0, 0.0, 0.0])


@pytest.mark.parametrize('kwargs,match', [
    (dict(dilations=()), 'dilations'),
    (dict(dilations=(0, 1)), 'dilations'),
    (dict(dilations=(-1, )), 'dilations'),
    (dict(dilations=(1, 2.5)), 'dilations'),
    (dict(dilations=(1, True)), 'dilations'),
    (dict(dilations=(1, 2, 2)), 'dilations'),
    (dict(dilations='124'), 'dilations'),
    (dict(tau=0), 'tau'),
    (dict(tau=-1.0), 'tau'),
    (dict(tau=float('nan')), 'tau'),
    (dict(aggregation='attention'), 'aggregation'),
    (dict(aggregation=3), 'aggregation'),
    (dict(kernel_size=2), 'kernel_size'),
    (dict(kernel_size=(3, 4)), 'kernel_size'),
    (dict(kernel_size=1), 'kernel_size'),
    (dict(inference='mean'), 'inference'),
    (dict(hard='yes'), 'hard'),
    (dict(padding_mode='reflect'), 'padding_mode'),
    (dict(in_channels=0), 'in_channels'),
    (dict(out_channels=-2), 'out_channels'),
    (dict(groups=3), 'groups'),
    (dict(stride=0), 'stride'),
    (dict(dilation=(1, 0)), 'dilation'),
    (dict(padding=-1), 'padding'),
    (dict(bias=1), 'bias'),
    (dict(act_cfg=dict(type='NoSuchActivation')), 'act_cfg'),
    (dict(act_cfg='ELU'), 'act_cfg'),
    (dict(aggregation=dict(type='Conv2d')), 'aggregation'),
])
def test_bad_configuration_raises_naming_the_argument(kwargs, match):
    args = dict(in_channels=4, out_channels=4, kernel_size=3, padding=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PADConv2d(**args)


def test_wrong_input_shape_is_named():
    layer = PADConv2d(4, 4, 3, padding=1)
    with pytest.raises(ValueError, match=r'\(N, 4, H, W\)'):
        layer(torch.randn(1, 3, 8, 8))


def test_tau_travels_in_the_state_dict():
    """The annealed temperature is saved with the weights and restored by a
    load (tools/test.py, init_model, soft inference use it); a state dict
    without it (an older checkpoint, a plain conv) changes nothing."""
    layer = PADConv2d(4, 4, 3, padding=1)
    layer.tau = 0.125
    state = layer.state_dict()
    assert float(state['tau']) == 0.125
    fresh = PADConv2d(4, 4, 3, padding=1)
    assert fresh.tau == 1.0
    result = fresh.load_state_dict(state, strict=True)
    assert fresh.tau == 0.125 and not result.missing_keys
    old = {k: v for k, v in state.items() if k != 'tau'}
    fresh.tau = 0.5
    result = fresh.load_state_dict(old, strict=True)
    assert fresh.tau == 0.5 and not result.unexpected_keys
    bad = dict(state, tau=torch.tensor(-1.0))
    with pytest.raises(ValueError, match='tau'):
        fresh.load_state_dict(bad)
    plain = nn.Conv2d(4, 4, 3, padding=1)
    result = PADConv2d(4, 4, 3, padding=1).load_state_dict(
        plain.state_dict(), strict=False)
    assert all('aggregation' in k for k in result.missing_keys)
