"""Property-based tests of ``PADConv2d`` over random geometry: channels,
groups, stride 1 or 2, odd kernels 3-7, base dilations, candidate sets,
inputs of 1 to 40 pixels (also smaller than the largest dilation), batch 1
to 3, each aggregation.

* the output has the shape ``nn.Conv2d`` gives with the same arguments (and
  PAD fails exactly where ``nn.Conv2d`` fails);
* evaluation is deterministic, training gradients are finite;
* a chain of two or three linked PAD layers gives a batch the result it
  gives each of its images alone (evaluation, ``'soft'`` and ``'argmax'``).
"""
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

from padseg.ops import (PADConv2d, link_pad_chain, pad_layers,
                        record_dilations)

AGGREGATIONS = ('markov', 'recurrent', 'gated')
SETTINGS = dict(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
candidate_sets = st.lists(st.integers(1, 5), min_size=1, max_size=4,
                          unique=True)


def randomize(module: nn.Module) -> None:
    """Aggregation parameters away from their start-up values, so that
    pixels choose different candidates."""
    for _, layer in pad_layers(module):
        for param in layer.aggregation.parameters():
            param.data.normal_(0, 1.5)


@st.composite
def geometries(draw):
    groups = draw(st.sampled_from((1, 2, 3)))
    kernel = draw(st.sampled_from((3, 5, 7)))
    dilation = draw(st.integers(1, 3))
    half = dilation * (kernel - 1) // 2
    return dict(
        in_channels=groups * draw(st.integers(1, 3)),
        out_channels=groups * draw(st.integers(1, 3)),
        kernel_size=(kernel, draw(st.sampled_from((kernel, 3)))),
        stride=draw(st.sampled_from((1, 2))),
        padding=draw(st.integers(0, half + 2)),
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()))


@st.composite
def inputs(draw, channels):
    return (draw(st.integers(1, 3)), channels, draw(st.integers(1, 40)),
            draw(st.integers(1, 40)))


@settings(max_examples=120, **SETTINGS)
@given(data=st.data(), geometry=geometries(), dilations=candidate_sets,
       aggregation=st.sampled_from(AGGREGATIONS), train=st.booleans())
def test_output_shape_is_that_of_conv2d(data, geometry, dilations,
                                        aggregation, train):
    shape = data.draw(inputs(geometry['in_channels']))
    x = torch.randn(shape)
    conv = nn.Conv2d(**geometry)
    pad = PADConv2d(**geometry, dilations=dilations, aggregation=aggregation)
    randomize(pad)
    pad.train(train)
    try:
        expected = conv(x).shape
    except RuntimeError:  # the window does not fit: PAD must refuse too
        expected = None
    event('nn.Conv2d refuses the input' if expected is None else 'fits')
    if expected is None:
        try:
            out = pad(x)
        except (RuntimeError, ValueError):
            return
        raise AssertionError(
            f'nn.Conv2d refuses input {shape}, PAD gives {tuple(out.shape)}')
    assert pad(x).shape == expected


@settings(max_examples=80, **SETTINGS)
@given(data=st.data(), geometry=geometries(), dilations=candidate_sets,
       aggregation=st.sampled_from(AGGREGATIONS), hard=st.booleans(),
       inference=st.sampled_from(('argmax', 'soft')))
def test_eval_is_deterministic_and_gradients_are_finite(
        data, geometry, dilations, aggregation, hard, inference):
    geometry['padding'] = geometry['dilation'] * (
        max(geometry['kernel_size']) - 1) // 2  # every input size fits
    x = torch.randn(data.draw(inputs(geometry['in_channels'])))
    pad = PADConv2d(**geometry, dilations=dilations, aggregation=aggregation,
                    hard=hard, inference=inference)
    randomize(pad)
    pad.eval()
    with torch.no_grad():
        assert torch.equal(pad(x), pad(x))
    pad.train()
    x.requires_grad_(True)
    (pad(x)**2).mean().backward()
    grads = [x.grad] + [p.grad for p in pad.parameters() if p.grad is not None]
    assert pad.weight.grad is not None
    assert all(torch.isfinite(g).all() for g in grads)


@st.composite
def chains(draw):
    num_candidates = draw(st.integers(1, 3))
    aggregation = draw(st.sampled_from(AGGREGATIONS))
    channels = draw(st.integers(1, 4))
    layers = []
    for _ in range(draw(st.integers(2, 3))):
        out_channels = draw(st.integers(1, 4))
        kernel = draw(st.sampled_from((3, 5, 7)))
        dilation = draw(st.integers(1, 2))
        layers.append(PADConv2d(
            channels, out_channels, kernel,
            stride=draw(st.sampled_from((1, 2))),
            padding=dilation * (kernel - 1) // 2, dilation=dilation,
            dilations=draw(st.lists(st.integers(1, 5),
                                    min_size=num_candidates,
                                    max_size=num_candidates, unique=True)),
            aggregation=aggregation))
        channels = out_channels
    chain = nn.Sequential(*layers)
    link_pad_chain(chain)
    randomize(chain)
    return chain.double().eval()


@settings(max_examples=80, **SETTINGS)
@given(data=st.data(), chain=chains(),
       inference=st.sampled_from(('argmax', 'soft')))
def test_chain_gives_a_batch_what_it_gives_each_image(data, chain, inference):
    for _, layer in pad_layers(chain):
        layer.inference = inference
    x = torch.randn(data.draw(inputs(chain[0].in_channels))).double()
    with torch.no_grad(), record_dilations(chain) as layers:
        batch = chain(x)
        mixed = any(layer.last_probs.argmax(dim=1).unique().numel() > 1
                    for layer in layers.values())
        single = torch.cat([chain(x[i:i + 1]) for i in range(len(x))])
    event('pixels choose different candidates' if mixed else
          'one candidate everywhere')
    # float64: rounding cannot flip an argmax between batch and single runs
    torch.testing.assert_close(batch, single, rtol=1e-10, atol=1e-10)
