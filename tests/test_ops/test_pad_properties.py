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
import os

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


@st.composite
def fast_path_geometries(draw):
    """16 to 24 input channels per group (the CPU fast paths take 16 and
    more), non-square kernels, any padding, stride 1 or 2."""
    groups = draw(st.sampled_from((1, 2)))
    kernel = (draw(st.sampled_from((3, 5))), draw(st.sampled_from((3, 5))))
    dilation = draw(st.integers(1, 2))
    return dict(
        in_channels=groups * draw(st.integers(16, 24)),
        out_channels=groups * draw(st.integers(1, 20)),
        kernel_size=kernel,
        stride=draw(st.sampled_from((1, 2))),
        padding=(draw(st.integers(0, dilation * kernel[0])),
                 draw(st.integers(0, dilation * kernel[1]))),
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()))


@settings(max_examples=60, **SETTINGS)
@given(data=st.data(), geometry=fast_path_geometries(),
       dilations=st.lists(st.integers(1, 4), min_size=2, max_size=3,
                          unique=True),
       dtype=st.sampled_from((torch.float32, torch.bfloat16, torch.float16)))
def test_fast_paths_match_the_reference_on_random_geometry(
        data, geometry, dilations, dtype):
    """The dispatcher's own paths (mixed or selected columns with every
    gradient, and the argmax gather), with the compiled kernels or in
    PyTorch operations (the GPU's), NCHW or channels-last, soft or hard
    (straight-through) steps, against the reference computed in float64
    from the same rounded values: outputs and the gradients of input,
    weight, bias and probabilities."""
    compiled = data.draw(st.booleans(), label='compiled kernels')
    channels_last = data.draw(st.booleans(), label='channels-last')
    hard = data.draw(st.booleans(), label='hard step')
    saved = os.environ.get('PADSEG_COMPILED')
    os.environ['PADSEG_COMPILED'] = '1' if compiled else '0'
    try:
        _check_own_paths(data, geometry, dilations, dtype, channels_last,
                         hard)
    finally:
        if saved is None:
            os.environ.pop('PADSEG_COMPILED')
        else:
            os.environ['PADSEG_COMPILED'] = saved


def _check_own_paths(data, geometry, dilations, dtype, channels_last, hard):
    from padseg.ops import dispatch, pad_conv2d
    from padseg.ops.reference import pad_conv2d_reference
    layer = PADConv2d(**geometry, dilations=dilations)
    h = data.draw(st.integers(4, 14))
    w = data.draw(st.integers(4, 14))
    x = torch.randn(2, geometry['in_channels'], h, w)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out_size = layer.output_size(x)
    if min(out_size) < 1:
        return
    assert dispatch.own_path_applies(x, layer.weight)
    probs = torch.softmax(torch.randn(2, len(dilations), *out_size), 1)
    rest = (layer.stride, layer.candidate_paddings,
            layer.candidate_dilations, layer.groups)
    low = [t.detach().to(dtype) for t in (x, layer.weight)]
    bias = None if layer.bias is None else layer.bias.detach().to(dtype)
    leaves = low + [probs] + ([bias] if bias is not None else [])
    leaves = [t.clone().requires_grad_() for t in leaves]
    wide = [t.detach().double().requires_grad_() for t in leaves]
    grad = torch.randn(2, geometry['out_channels'], *out_size)
    used, wide_used, index = leaves[2], wide[2], None
    if hard:  # one-hot values, the soft gradient
        index = leaves[2].detach().argmax(1)
        one_hot = torch.zeros_like(probs).scatter_(1, index[:, None], 1.0)
        used = one_hot - leaves[2].detach() + leaves[2]
        wide_used = one_hot.double() - wide[2].detach() + wide[2]
    out = pad_conv2d(leaves[0], leaves[1], leaves[3] if bias is not None
                     else None, used, *rest, index=index)
    ref = pad_conv2d_reference(wide[0], wide[1], wide[3] if bias is not None
                               else None, wide_used, *rest)
    tol = (dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else
           dict(rtol=3e-2, atol=3e-2))
    scale = ref.abs().max().item() + 1e-6
    torch.testing.assert_close(out.double() / scale, ref / scale, **tol)
    got = torch.autograd.grad(out, leaves, grad.to(out.dtype))
    expected = torch.autograd.grad(ref, wide, grad.double())
    for name, a, b in zip(('x', 'weight', 'probs', 'bias'), got, expected):
        scale = b.abs().max().item() + 1e-6
        torch.testing.assert_close(a.double() / scale, b / scale, **tol,
                                   msg=name)
    index = probs.argmax(1)
    one_hot = torch.zeros_like(probs).scatter_(1, index[:, None], 1.0)
    with torch.no_grad():
        argmax = pad_conv2d(low[0], low[1], bias, one_hot, *rest)
        ref = pad_conv2d_reference(low[0].double(), low[1].double(),
                                   None if bias is None else bias.double(),
                                   one_hot.double(), *rest)
    scale = ref.abs().max().item() + 1e-6
    torch.testing.assert_close(argmax.double() / scale, ref / scale, **tol)
