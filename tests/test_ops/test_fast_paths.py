"""The fast PAD paths against the definition, ``pad_conv2d_reference``, with
and without the compiled kernels: outputs and every gradient (input, weight,
bias, probabilities and, through them, the prior's parameters), in every
aggregation and inference mode."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from padseg.ops import PADConv2d, link_pad_chain, pad_conv2d, record_dilations
from padseg.ops import compiled, fast_paths, pad_conv
from padseg.ops.pad_conv import gumbel_softmax, pad_conv2d_reference

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


def geometry_args(geometry, dtype=torch.float64, batch=1):
    cin, cout, k, stride, base, groups, dilations, h, w, bias = geometry
    layer = PADConv2d(cin, cout, k, stride=stride, padding=base * (k // 2),
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


@pytest.fixture(autouse=True, params=['compiled', 'PyTorch'])
def kernels(request, monkeypatch):
    """Every test twice: with the compiled kernels (which must build here)
    and in plain PyTorch operations (their fallback)."""
    monkeypatch.setenv('PADSEG_COMPILED',
                       '1' if request.param == 'compiled' else '0')
    if request.param == 'compiled':
        assert compiled.kernels() is not None, 'the PAD kernels did not build'
    return request.param


@pytest.fixture(params=['one chunk', 'row chunks'])
def chunking(request, monkeypatch):
    """Whole images in one chunk, or one output row per chunk."""
    if request.param == 'row chunks':
        monkeypatch.setattr(fast_paths, '_CHUNK_PIXELS', 1)
        monkeypatch.setattr(fast_paths, '_CHUNK_BYTES', 1)
        monkeypatch.setattr(fast_paths, '_GATHER_BLOCK_PIXELS', 1)
        monkeypatch.setattr(fast_paths, '_GATHER_BLOCK_BYTES', 1)
    return request.param


@pytest.mark.parametrize('geometry', GEOMETRIES)
def test_columns_path_gradcheck(geometry, chunking):
    x, weight, bias, probs, rest = geometry_args(geometry)
    inputs = [t.requires_grad_() for t in (x, weight, bias, probs)
              if t is not None]

    def fn(x, weight, *others):
        bias_, probs_ = (others if len(others) == 2 else (None, others[0]))
        return fast_paths.pad_conv2d_columns(x, weight, bias_, probs_, *rest)

    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize('geometry', GEOMETRIES)
def test_columns_path_matches_reference(geometry, chunking):
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float32, 2)
    inputs = [t.requires_grad_() for t in (x, weight, bias, probs)
              if t is not None]
    ref = pad_conv2d_reference(x, weight, bias, probs, *rest)
    out = fast_paths.pad_conv2d_columns(x, weight, bias, probs, *rest)
    torch.testing.assert_close(out, ref)
    grad = torch.randn_like(ref)
    for got, expected in zip(torch.autograd.grad(out, inputs, grad),
                             torch.autograd.grad(ref, inputs, grad)):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('wanted', ['x', 'weight', 'bias', 'probs',
                                    'weight+probs'])
def test_columns_path_gives_only_the_gradients_asked_for(wanted):
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[1],
                                                 torch.float32, 2)
    tensors = dict(x=x, weight=weight, bias=bias, probs=probs)
    inputs = [tensors[name].requires_grad_() for name in wanted.split('+')]
    out = fast_paths.pad_conv2d_columns(x, weight, bias, probs, *rest)
    ref = pad_conv2d_reference(x, weight, bias, probs, *rest)
    grad = torch.randn_like(ref)
    for got, expected in zip(torch.autograd.grad(out, inputs, grad),
                             torch.autograd.grad(ref, inputs, grad)):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('geometry', GEOMETRIES)
def test_gather_path_matches_reference(geometry, chunking):
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float32, 2)
    one_hot = F.one_hot(probs.argmax(1), probs.shape[1]).permute(0, 3, 1, 2)
    one_hot = one_hot.to(probs.dtype)
    index = fast_paths.one_hot_candidates(one_hot)
    torch.testing.assert_close(index, probs.argmax(1))
    assert fast_paths.one_hot_candidates(probs) is None
    not_one_hot = one_hot.clone()
    not_one_hot[0, :, 0, 0] = torch.tensor([1.0, 0.5, -0.5][:len(one_hot[0])])
    assert fast_paths.one_hot_candidates(not_one_hot) is None
    out = fast_paths.pad_conv2d_gather(x, weight, bias, index, *rest)
    ref = pad_conv2d_reference(x, weight, bias, one_hot, *rest)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize('geometry', [
    (16, 8, 3, 2, 1, 1, (1, 2, 4), 7, 6, True),  # the gather path
    GEOMETRIES[1],  # too few channels: the reference on the used candidates
])
def test_dispatcher_takes_a_given_index_for_the_one_hot_it_stands_for(
        geometry):
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float32, 2)
    index = probs.argmax(1)
    one_hot = F.one_hot(index, probs.shape[1]).permute(0, 3, 1, 2).float()
    ref = pad_conv2d_reference(x, weight, bias, one_hot, *rest)
    torch.testing.assert_close(
        pad_conv2d(x, weight, bias, one_hot, *rest, index=index), ref)
    # With a gradient to give, the columns path runs and the index is unused.
    soft = probs.clone().requires_grad_()
    out = pad_conv2d(x, weight, bias, soft, *rest, index=index)
    torch.testing.assert_close(
        out, pad_conv2d_reference(x, weight, bias, probs, *rest))


def test_argmax_evaluation_picks_the_first_of_tied_candidates():
    """Evaluation finds each pixel's candidate with ``max`` (faster than
    ``argmax``): on ties it must pick the first one, as ``argmax`` does."""
    layer = PADConv2d(4, 4, 3, padding=1).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        layer.aggregation.u_h_bias.copy_(torch.tensor([0.0, 2.0, 2.0]))
    with torch.no_grad(), record_dilations(layer):
        layer(x)
        assert (layer.last_probs[:, 1] == 1).all()
        layer.aggregation.u_h.copy_(torch.randint(-1, 2, (3, 4)).float())
        x = torch.randint(-1, 2, x.shape).float()  # many ties
        prior = layer.hidden_prior(x)
        layer(x)
        torch.testing.assert_close(
            layer.last_probs.argmax(1), prior.argmax(1), rtol=0, atol=0)


def test_dispatcher_never_runs_the_reference_outside_export(monkeypatch):
    def refuse(*args):
        raise AssertionError('reference used')

    monkeypatch.setattr(pad_conv, 'pad_conv2d_reference', refuse)
    layer = PADConv2d(16, 4, 3, padding=1)
    with torch.no_grad():
        layer.aggregation.u_h.normal_()
    x = torch.randn(1, 16, 6, 6, requires_grad=True)
    for mode in ('train', 'argmax', 'soft'):
        layer.train(mode == 'train')
        layer.inference = 'soft' if mode == 'soft' else 'argmax'
        layer(x).sum().backward()
        with torch.no_grad():
            layer(x)


def test_fast_paths_apply_to_dense_cpu_convolutions_only():
    x = torch.empty(1, 16, 4, 4)
    assert fast_paths.fast_paths_apply(x, torch.empty(8, 16, 3, 3))
    assert not fast_paths.fast_paths_apply(x, torch.empty(16, 1, 3, 3))
    assert not fast_paths.fast_paths_apply(x.to('meta'),
                                           torch.empty(8, 16, 3, 3))


def test_plans_are_kept_per_geometry_dtype_and_chunk_setting(monkeypatch):
    x, weight, _, probs, rest = geometry_args(GEOMETRIES[1])
    out_size = tuple(probs.shape[-2:])
    plan = fast_paths._Plan.of(x, weight, out_size, *rest)
    assert fast_paths._Plan.of(x.clone(), weight.clone(), out_size,
                               *rest) is plan
    assert fast_paths._Plan.of(x[:1], weight, out_size, *rest).batch == 1
    assert fast_paths._Plan.of(x.float(), weight, out_size,
                               *rest) is not plan
    assert plan.rows_per_chunk == plan.out_size[0]
    monkeypatch.setattr(fast_paths, '_CHUNK_PIXELS', 1)
    monkeypatch.setattr(fast_paths, '_CHUNK_BYTES', 1)
    assert fast_paths._Plan.of(x, weight, out_size, *rest).rows_per_chunk == 1


def test_one_candidate_everywhere_is_the_plain_convolution():
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[2], torch.float32)
    one_hot = torch.zeros_like(probs)
    one_hot[:, 1] = 1
    stride, paddings, dilations, groups = rest
    expected = F.conv2d(x, weight, bias, stride, paddings[1], dilations[1],
                        groups)
    torch.testing.assert_close(pad_conv2d(x, weight, bias, one_hot, *rest),
                               expected)


def test_channels_last_tensors_and_weight_untouched():
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[0], torch.float32,
                                                 2)
    weight = weight.contiguous(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    kept = weight.clone()
    inputs = [t.requires_grad_() for t in (x, weight, bias, probs)]
    out = fast_paths.pad_conv2d_columns(x, weight, bias, probs, *rest)
    ref = pad_conv2d_reference(x, weight, bias, probs, *rest)
    torch.testing.assert_close(out, ref)
    for got, expected in zip(torch.autograd.grad(out.sum(), inputs),
                             torch.autograd.grad(ref.sum(), inputs)):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(weight, kept, rtol=0, atol=0)


def randomise(module: nn.Module) -> None:
    """Unit-variance priors: every candidate wins some pixels."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if 'aggregation' in name:
                param.normal_(0, param.shape[-1]**-0.5)


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


def reference(*args, index=None):
    """The reference in place of the dispatcher (``index``, which PAD layers
    pass in argmax evaluation, only saves the dispatcher's one-hot check)."""
    return pad_conv2d_reference(*args)


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
@pytest.mark.parametrize('mode', ['train soft', 'train hard', 'eval soft',
                                  'eval argmax'])
def test_network_outputs_and_all_gradients_match_reference(
        aggregation, mode, monkeypatch):
    """The dispatcher against the reference in a chain of PAD layers: the
    same Gumbel noise, then outputs and the gradients of the input and of
    every parameter (weights, biases, the prior's ``U``/``W``)."""
    fast = make_net(aggregation, hard=mode == 'train hard',
                    inference='soft' if mode == 'eval soft' else 'argmax')
    slow = copy.deepcopy(fast)
    fast.train(mode.startswith('train'))
    slow.train(mode.startswith('train'))
    x = torch.randn(2, 16, 11, 9)
    results = []
    for net, fn in ((fast, pad_conv2d), (slow, reference)):
        monkeypatch.setattr(pad_conv, 'pad_conv2d', fn)
        torch.manual_seed(7)
        x_ = x.clone().requires_grad_()
        out = net(x_)
        weights = torch.linspace(-1, 1, out.numel()).view_as(out)
        (out * weights).sum().backward()
        grads = {name: p.grad for name, p in net.named_parameters()}
        results.append((out, x_.grad, grads))
    (out, x_grad, grads), (ref, ref_x_grad, ref_grads) = results
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x_grad, ref_x_grad, rtol=1e-4, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        if ref_grads[name] is None:  # no prior reaches the first layer's W_h
            assert grad is None or not grad.any(), name
            continue
        torch.testing.assert_close(grad, ref_grads[name], rtol=1e-4,
                                   atol=1e-5, msg=name)
    if mode != 'eval argmax':
        assert grads['0.aggregation.u_h'].abs().sum() > 0
    else:  # without autograd: the gather path
        for net, fn in ((fast, pad_conv2d), (slow, reference)):
            monkeypatch.setattr(pad_conv, 'pad_conv2d', fn)
            with torch.no_grad():
                results.append(net(x))
        torch.testing.assert_close(results[2], results[3])


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_stays_finite_and_close(dtype):
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[0], torch.float32,
                                                 2)
    low = [t.to(dtype).requires_grad_() for t in (x, weight, bias)]
    probs_ = probs.clone().requires_grad_()  # probabilities stay float32
    out = fast_paths.pad_conv2d_columns(*low, probs_, *rest)
    assert out.dtype == dtype and torch.isfinite(out).all()
    out.float().square().sum().backward()
    for t in low + [probs_]:
        assert torch.isfinite(t.grad).all()
    assert probs_.grad.dtype == torch.float32
    ref = pad_conv2d_reference(x, weight, bias, probs, *rest)
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)
    index = probs.argmax(1)
    with torch.no_grad():
        gathered = fast_paths.pad_conv2d_gather(*low, index, *rest)
    assert gathered.dtype == dtype and torch.isfinite(gathered).all()


def test_record_dilations_sees_the_probabilities_the_fast_path_used():
    layer = PADConv2d(4, 4, 3, padding=1).eval()
    randomise(layer)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad(), record_dilations(layer):
        out = layer(x)
        probs = layer.last_probs
    expected = pad_conv2d_reference(x, layer.weight, layer.bias, probs,
                                    layer.stride, layer.candidate_paddings,
                                    layer.candidate_dilations, 1)
    torch.testing.assert_close(out, expected)
    assert len(probs.argmax(1).unique()) > 1


def test_gumbel_hard_probs_are_not_taken_for_one_hot():
    """Straight-through samples carry a gradient, so they take the columns
    path; their forward value equals the one-hot reference."""
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    probs = gumbel_softmax(logits, tau=1.0, hard=True)
    x, weight, bias, _, rest = geometry_args(
        (4, 4, 3, 1, 1, 1, (1, 2, 4), 4, 4, True), torch.float32)
    out = pad_conv2d(x, weight, bias, probs, *rest)
    ref = pad_conv2d_reference(x, weight, bias, probs.detach().round(), *rest)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert logits.grad.abs().sum() > 0
