"""PAD convolutions of odd geometries and small PAD networks, for the
tests of the paths that compute them (tests/test_ops)."""
import pytest
import torch
from torch import nn

from padseg.ops import PADConv2d, compiled, link_pad_chain, pad_layers

# (in, out, kernel, stride, base dilation, groups, dilations, H, W, bias):
# stride 1 and 2, groups (and depthwise), base dilation 2, 5x5 kernels, odd
# sizes and inputs smaller than the largest dilation.
GEOMETRIES = [
    (4, 6, 3, 1, 1, 1, (1, 2, 4), 7, 6, True),
    (4, 6, 3, 2, 1, 1, (1, 2, 4), 7, 6, True),
    (4, 8, 3, 1, 2, 2, (1, 2, 4), 6, 5, False),
    (4, 4, 3, 2, 1, 4, (1, 2, 4), 5, 7, True),
    (3, 4, 5, 1, 1, 1, (1, 3), 5, 4, True),
    (3, 4, 3, 1, 2, 1, (1, 2, 4), 3, 2, True),
    (2, 3, 3, 2, 1, 1, (2, 1, 3), 2, 3, False),
]


#: Wider than one 32-channel tile of output channels per group, and a 3x5
#: kernel with its own padding (the GPU kernels' tiles, non-square taps).
WIDE_GEOMETRIES = [
    (8, 40, 3, 1, 1, 1, (1, 2, 4), 6, 5, True),
    (6, 72, (3, 5), 1, 1, 2, (1, 3), 5, 7, False),
]


def geometry_args(geometry, dtype=torch.float64, batch=1):
    cin, cout, k, stride, base, groups, dilations, h, w, bias = geometry
    kh, kw = (k, k) if isinstance(k, int) else k
    layer = PADConv2d(cin, cout, k, stride=stride,
                      padding=(base * (kh // 2), base * (kw // 2)),
                      dilation=base, groups=groups, dilations=dilations,
                      bias=bias)
    x = torch.randn(batch, cin, h, w, dtype=dtype)
    ho, wo = layer.output_size(x)
    probs = torch.softmax(torch.randn(batch, len(dilations), ho, wo,
                                      dtype=dtype), dim=1)
    weight = layer.weight.detach().to(dtype)
    b = layer.bias.detach().to(dtype) if bias else None
    rest = ((stride, stride), layer.candidate_paddings,
            layer.candidate_dilations, groups)
    return x, weight, b, probs, rest


@pytest.fixture(params=['compiled', 'PyTorch'])
def kernels(request, monkeypatch):
    """A test twice (``pytestmark = pytest.mark.usefixtures('kernels')``):
    with the compiled kernels (which must build here) and in plain PyTorch
    operations (their fallback)."""
    monkeypatch.setenv('PADSEG_COMPILED',
                       '1' if request.param == 'compiled' else '0')
    if request.param == 'compiled':
        assert compiled.kernels() is not None, 'the PAD kernels did not build'
    return request.param


def randomise(module: nn.Module) -> None:
    """Unit-variance priors: every candidate wins some pixels (the stored
    weights are the effective ones over the aggregation's gain)."""
    with torch.no_grad():
        for _, layer in pad_layers(module):
            gain = layer.aggregation.gain
            for param in layer.aggregation.parameters():
                param.normal_(0, param.shape[-1]**-0.5 / gain)


def make_net(aggregation, **pad_cfg):
    """Dense, strided and dilated, grouped and depthwise PAD layers; all but
    the depthwise one take the fast paths."""
    net = nn.Sequential(
        PADConv2d(16, 16, 3, padding=1, aggregation=aggregation, **pad_cfg),
        nn.ReLU(),
        PADConv2d(16, 32, 3, stride=2, padding=2, dilation=2,
                  aggregation=aggregation, **pad_cfg),
        nn.ReLU(),
        PADConv2d(32, 16, 3, padding=1, groups=2, aggregation=aggregation,
                  **pad_cfg),
        PADConv2d(16, 16, 3, padding=1, groups=16, aggregation=aggregation,
                  **pad_cfg))
    link_pad_chain(net)
    randomise(net)
    return net
