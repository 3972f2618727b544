"""Receptive fields (theoretical, effective) and activation maps."""
import pytest
import torch
from torch import nn

from padseg.analysis import (activation_map, centre_unit, default_layer,
                             effective_receptive_field,
                             erf_centre, erf_radius, layer_output,
                             receptive_field_extent,
                             theoretical_receptive_field)
from padseg.ops import PADConv2d

SIZE = 21


def window(centre, dilation, kernel=3, size=SIZE):
    """Analytic support of one kxk conv with ``dilation`` at ``centre``."""
    mask = torch.zeros(size, size, dtype=torch.bool)
    half = kernel // 2
    for i in range(-half, half + 1):
        for j in range(-half, half + 1):
            mask[centre[0] + i * dilation, centre[1] + j * dilation] = True
    return mask


def plain_conv(dilation):
    conv = nn.Conv2d(1, 1, 3, padding=dilation, dilation=dilation, bias=False)
    nn.init.ones_(conv.weight)
    return conv


def forced_pad(choice, dilations=(1, 2, 4)):
    """A PAD layer whose prior makes every pixel pick candidate ``choice``."""
    layer = PADConv2d(1, 1, 3, padding=1, dilations=dilations, bias=False)
    with torch.no_grad():
        layer.aggregation.u_h_bias.zero_()
        layer.aggregation.u_h_bias[choice] = 2.0
    return layer


def test_erf_of_a_positive_dilated_conv_is_its_nine_taps():
    conv = plain_conv(2)
    inputs = [torch.rand(1, 1, SIZE, SIZE) + 0.1 for _ in range(3)]
    erf = effective_receptive_field(conv, inputs, '')
    assert torch.equal(erf > 0, window((10, 10), 2))
    # every tap has weight 1: the mean |gradient| is 1 on the support
    torch.testing.assert_close(erf[erf > 0], torch.ones(9))
    assert torch.equal(
        theoretical_receptive_field(conv, inputs[0], ''), window((10, 10), 2))


@pytest.mark.parametrize('choice', [0, 1, 2])
def test_pad_layer_forced_to_one_dilation_has_the_plain_conv_rf(choice):
    dilation = (1, 2, 4)[choice]
    pad = forced_pad(choice).eval()
    x = torch.randn(1, 1, SIZE, SIZE)
    rf = theoretical_receptive_field(pad, x, '', unit=(9, 11))
    assert torch.equal(rf, theoretical_receptive_field(
        plain_conv(dilation), x, '', unit=(9, 11)))
    assert torch.equal(rf, window((9, 11), dilation))
    assert pad.training is False and not pad.recording


def test_rf_follows_the_per_pixel_choice():
    # prior h = f(5 * y * [-1, 0, 1]): dilation 1 where the input is
    # negative (left half), dilation 4 where it is positive (right half)
    layer = PADConv2d(1, 1, 3, padding=1, dilations=(1, 2, 4), bias=False)
    with torch.no_grad():
        layer.aggregation.u_h.copy_(torch.tensor([[-5.0], [0.0], [5.0]]))
        layer.aggregation.u_h_bias.zero_()
    model = nn.Sequential(layer).eval()
    x = torch.ones(1, 1, SIZE, SIZE)
    x[..., :SIZE // 2] = -1
    assert torch.equal(theoretical_receptive_field(model, x, '0', (10, 5)),
                       window((10, 5), 1))
    assert torch.equal(theoretical_receptive_field(model, x, '0', (10, 15)),
                       window((10, 15), 4))


def test_rf_is_not_hidden_by_negative_weights_relu_or_max_pool():
    # conv 3x3 -> ReLU -> BN -> max pool 2/2 -> conv 3x3: an 8x8 box
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4),
        nn.MaxPool2d(2), nn.Conv2d(4, 3, 3, padding=1)).eval()
    with torch.no_grad():
        model[0].weight.uniform_(-1, 0)  # all negative: ReLU kills every path
    x = torch.rand(1, 2, 32, 32)
    out = layer_output(model, x, '')
    assert out.shape[-2:] == (16, 16) and centre_unit(out) == (8, 8)
    rf = theoretical_receptive_field(model, x, '')
    assert receptive_field_extent(rf) == dict(area=64, height=8, width=8)
    assert rf[13:21, 13:21].all()


def test_layer_output_takes_the_last_map_of_a_tuple_and_checks_names():

    class TwoMaps(nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, stride=2, padding=1)

        def forward(self, x):
            return x, self.conv(x)

    model = nn.Sequential(TwoMaps())
    output = layer_output(model, torch.rand(1, 1, 8, 8), '0')
    assert output.shape == (1, 2, 4, 4)
    with pytest.raises(ValueError, match='not a module'):
        layer_output(model, torch.rand(1, 1, 8, 8), '1.conv')


def test_erf_radius_and_centre():
    erf = torch.zeros(9, 9)
    erf[4, 2] = erf[4, 6] = 1.0  # centre of mass (4, 4), both at distance 2
    assert erf_centre(erf) == (4.0, 4.0)
    assert erf_radius(erf, 0.5) == pytest.approx(2.0)
    erf[4, 4] = 8.0  # 80 % of the mass at the centre
    assert erf_radius(erf, 0.5) == 0.0
    assert erf_radius(erf, 0.95) == pytest.approx(2.0)
    with pytest.raises(ValueError, match='mass'):
        erf_radius(erf, 0.0)


def test_theoretical_rf_needs_one_image():
    with pytest.raises(ValueError, match='batch 1'):
        theoretical_receptive_field(plain_conv(1), torch.rand(2, 1, 8, 8), '')


def test_activation_map_and_default_layer():
    model = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(),
                          PADConv2d(5, 3, 3, padding=1),
                          nn.Conv2d(3, 4, 1)).eval()
    x = torch.randn(2, 2, 6, 7)
    with torch.no_grad():
        expected = model[:1](x).abs().mean(1)
    torch.testing.assert_close(activation_map(model, x, '0'), expected)
    assert activation_map(model, x, '3').shape == (2, 6, 7)
    assert default_layer([nn.Conv2d(1, 1, 1), model]) == '2'
    assert default_layer([nn.Conv2d(1, 1, 1)]) == 'backbone'
