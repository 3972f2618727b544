"""Parameter and FLOP counts of PAD models."""
import pytest
from mmseg.registry import MODELS
from torch import nn

from padseg.analysis import model_cost, pad_parameter_count
from padseg.ops import PADConv2d, pad_layers


def test_cost_of_one_pad_layer_counts_every_candidate():
    plain = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1))
    pad = nn.Sequential(PADConv2d(8, 16, 3, padding=1, dilations=(1, 2, 4)))
    h, w = 10, 12
    conv_flops = 16 * 8 * 9 * h * w
    prior_flops = 3 * 8 * h * w  # the 1x1 U_h conv, D output channels
    plain_cost = model_cost(plain, (h, w), in_channels=8)
    pad_cost = model_cost(pad, (h, w), in_channels=8)
    assert plain_cost['flops'] == conv_flops
    assert pad_cost['flops'] == 3 * conv_flops + prior_flops
    assert pad_cost['pad_params'] == 3 * 8 + 3  # U_h and its bias
    assert pad_cost['params'] == plain_cost['params'] + 27
    assert pad_cost['pad_percent'] == pytest.approx(
        100 * 27 / plain_cost['params'])
    assert plain_cost['pad_params'] == 0 and plain_cost['pad_percent'] == 0


@pytest.mark.parametrize('aggregation,per_layer', [
    ('markov', lambda c: 3 * c + 3),
    ('gated', lambda c: 2 * (3 * c + 3) + 2 * 9),  # U_h, U_a, biases, W_h, W_a
])
def test_pad_parameters_of_resnet_dcn_slot(aggregation, per_layer):
    model = MODELS.build(
        dict(type='ResNetV1c', depth=50, base_channels=8, stem_channels=8,
             dcn=dict(type='PAD', aggregation=aggregation,
                      fallback_on_stride=False),
             stage_with_dcn=(False, False, True, True)))
    layers = [layer for _, layer in pad_layers(model)]
    assert len(layers) == 6 + 3
    assert pad_parameter_count(model) == sum(
        per_layer(layer.in_channels) for layer in layers)
