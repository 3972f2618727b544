"""The Triton kernels of ``padseg/ops/triton_pad.py`` against the definition,
``pad_conv2d_reference``, run by Triton's interpreter on CPU tensors
(``TRITON_INTERPRET=1``, set by tests/conftest.py before anything imports
them): outputs and every gradient on odd geometries (stride 2, groups,
depthwise, base dilation 2, 5x5 and 3x5, inputs smaller than the largest
dilation, more output channels per group than one tile) in float32, float16
and bfloat16; the argmax kernel; whole PAD networks of each aggregation
through the dispatcher; the opt-in, the fallback and the strict mode of the
tests (a failing kernel raises)."""
import copy
import os
import warnings

import pytest
import torch
import torch.nn.functional as F

from helpers.pad_geometry import (GEOMETRIES, WIDE_GEOMETRIES, geometry_args,
                                  make_net)
from padseg.ops import PADConv2d, dispatch, pad_conv, pad_conv2d
from padseg.ops import triton_pad
from padseg.ops.reference import pad_conv2d_reference

# float16/bfloat16 tiles: products in float32, inputs and outputs rounded
TOLERANCES = {torch.float32: dict(rtol=1e-4, atol=1e-5),
              torch.float16: dict(rtol=2e-2, atol=2e-2),
              torch.bfloat16: dict(rtol=5e-2, atol=5e-2)}
DTYPES = list(TOLERANCES)


def test_the_interpreter_runs_these_tests():
    assert os.environ.get('TRITON_INTERPRET') == '1'


TRITON_GEOMETRIES = GEOMETRIES + WIDE_GEOMETRIES
#: A geometry the dispatcher sends to the kernels (16 channels per group)
ROUTED = (16, 20, 3, 2, 1, 1, (1, 2, 4), 7, 6, True)


def low_precision(dtype, *tensors):
    """The tensors rounded to ``dtype`` (what the kernels get) and, for the
    reference, the same values in float32."""
    low = [None if t is None else t.to(dtype) for t in tensors]
    return low, [None if t is None else t.float() for t in low]


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('geometry', TRITON_GEOMETRIES)
def test_training_kernels_match_reference(geometry, dtype):
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float32, 2)
    (x_, w_, b_), (x32, w32, b32) = low_precision(dtype, x, weight, bias)
    low = [t.requires_grad_() for t in (x_, w_, b_) if t is not None]
    ref_in = [t.requires_grad_() for t in (x32, w32, b32) if t is not None]
    p_low = probs.clone().requires_grad_()
    p_ref = probs.clone().requires_grad_()
    out = triton_pad.pad_conv2d_triton(x_, w_, b_, p_low, *rest)
    ref = pad_conv2d_reference(x32, w32, b32, p_ref, *rest)
    assert out.dtype == dtype and out.shape == ref.shape
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out.float(), ref, **TOLERANCES[dtype])
    grad = torch.randn_like(ref)
    got = torch.autograd.grad(out, low + [p_low], grad.to(dtype))
    expected = torch.autograd.grad(ref, ref_in + [p_ref], grad)
    names = ['x', 'weight'] + (['bias'] if bias is not None else []) + [
        'probs']
    for name, a, b in zip(names, got, expected):
        assert a.dtype == (torch.float32 if name == 'probs' else dtype)
        scale = max(1.0, b.abs().max().item())
        tol = TOLERANCES[dtype]
        torch.testing.assert_close(a.float() / scale, b / scale,
                                   rtol=tol['rtol'], atol=tol['atol'],
                                   msg=f'{name} {dtype}')


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('geometry', TRITON_GEOMETRIES)
def test_argmax_kernel_matches_reference(geometry, dtype):
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float32, 2)
    (x_, w_, b_), (x32, w32, b32) = low_precision(dtype, x, weight, bias)
    index = probs.argmax(1)
    one_hot = F.one_hot(index, probs.shape[1]).permute(0, 3, 1, 2).float()
    out = triton_pad.pad_conv2d_triton_argmax(x_, w_, b_, index, *rest)
    assert out.dtype == dtype
    torch.testing.assert_close(
        out.float(), pad_conv2d_reference(x32, w32, b32, one_hot, *rest),
        **TOLERANCES[dtype])


def test_only_the_asked_gradients_are_given():
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[0],
                                                 torch.float32)
    probs.requires_grad_()
    out = triton_pad.pad_conv2d_triton(x, weight, bias, probs, *rest)
    (grad_p, ) = torch.autograd.grad(out.sum(), [probs])
    ref = pad_conv2d_reference(x, weight, bias, probs, *rest)
    (expected, ) = torch.autograd.grad(ref.sum(), [probs])
    torch.testing.assert_close(grad_p, expected, rtol=1e-4, atol=1e-5)


def test_autocast_runs_in_the_autocast_dtype():
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[1],
                                                 torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = triton_pad.pad_conv2d_triton(x, weight, bias, probs, *rest)
    assert out.dtype == torch.bfloat16
    ref = pad_conv2d_reference(x.bfloat16().float(), weight.bfloat16().float(),
                               bias.bfloat16().float(), probs, *rest)
    torch.testing.assert_close(out.float(), ref, rtol=5e-2, atol=5e-2)


@pytest.fixture
def on_gpu(monkeypatch):
    """The dispatcher takes these CPU tensors for CUDA ones, so the Triton
    path runs here through the interpreter; no earlier failure counts."""
    monkeypatch.setattr(dispatch, '_on_gpu', lambda x: True)
    monkeypatch.setattr(dispatch, '_triton_broken', {})


def reference(*args, index=None, gpu_kernel=None):
    return pad_conv2d_reference(*args)


@pytest.mark.parametrize('aggregation', ['markov', 'recurrent', 'gated'])
@pytest.mark.parametrize('mode', ['train soft', 'train hard', 'eval soft',
                                  'eval argmax'])
def test_networks_through_the_dispatcher(aggregation, mode, on_gpu,
                                         monkeypatch):
    """PAD networks (dense, strided + dilated, grouped, depthwise layers) with
    ``gpu_kernel='triton'`` against the same networks on the reference: the
    same noise, then outputs and the gradients of the input and of every
    parameter, the prior's included."""
    fast = make_net(aggregation, hard=mode == 'train hard',
                    inference='soft' if mode == 'eval soft' else 'argmax',
                    gpu_kernel='triton')
    slow = copy.deepcopy(fast)
    for net in (fast, slow):
        net.train(mode.startswith('train'))
    x = torch.randn(2, 16, 9, 7)
    calls = []
    monkeypatch.setattr(dispatch, '_triton',
                        lambda *a: calls.append(1) or _TRITON(*a))
    results = []
    for net, fn in ((fast, pad_conv2d), (slow, reference)):
        monkeypatch.setattr(pad_conv, 'pad_conv2d', fn)
        torch.manual_seed(3)
        x_ = x.clone().requires_grad_()
        out = net(x_)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results.append((out, x_.grad,
                        {n: p.grad for n, p in net.named_parameters()}))
    assert calls, 'the Triton path did not run'
    (out, x_grad, grads), (ref, ref_x_grad, ref_grads) = results
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x_grad, ref_x_grad, rtol=1e-4, atol=1e-5)
    for name, grad in grads.items():
        if ref_grads[name] is None:
            assert grad is None or not grad.any(), name
            continue
        torch.testing.assert_close(grad, ref_grads[name], rtol=1e-4,
                                   atol=1e-5, msg=name)


_TRITON = dispatch._triton


def test_triton_is_opt_in(on_gpu, monkeypatch):
    x = torch.empty(1, 4, 5, 5)
    monkeypatch.delenv('PADSEG_TRITON', raising=False)
    assert not dispatch.triton_wanted(x)
    assert dispatch.triton_wanted(x, 'triton')
    monkeypatch.setenv('PADSEG_TRITON', '1')
    assert dispatch.triton_wanted(x)
    assert not dispatch.triton_wanted(x, 'reference')
    assert not dispatch.triton_wanted(x.double(), 'triton')
    monkeypatch.setenv('PADSEG_TRITON', 'cuda')
    with pytest.raises(ValueError, match='PADSEG_TRITON'):
        dispatch.triton_wanted(x)
    with pytest.raises(ValueError, match='gpu_kernel'):
        PADConv2d(4, 4, 3, padding=1, gpu_kernel='cuda')


def test_never_on_the_cpu_for_real_cpu_tensors():
    x = torch.empty(1, 4, 5, 5)
    assert not dispatch.triton_wanted(x, 'triton')


def test_a_kernel_that_fails_falls_back_with_one_warning(on_gpu, monkeypatch):
    def broken(*args):
        raise RuntimeError('no kernel image is available for this GPU')

    monkeypatch.setenv('PADSEG_KERNEL_FALLBACK', '1')
    monkeypatch.setattr(triton_pad, 'pad_conv2d_triton', broken)
    layer = PADConv2d(16, 6, 3, padding=1, gpu_kernel='triton').train()
    x = torch.randn(2, 16, 6, 6)
    with pytest.warns(UserWarning, match='no kernel image') as record:
        torch.manual_seed(0)
        out = layer(x)
    assert len(record) == 1 and 'reference' in str(record[0].message)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # warned once: silent from now on
        again = layer(x)
    torch.testing.assert_close(out, again)
    assert dispatch._triton_broken


def test_a_failing_backward_falls_back_to_the_reference(on_gpu,
                                                        monkeypatch):
    def broken(*args):
        raise RuntimeError('out of resources: shared memory')

    monkeypatch.setenv('PADSEG_KERNEL_FALLBACK', '1')
    monkeypatch.setattr(triton_pad, '_backward', broken)
    x, weight, bias, probs, rest = geometry_args(ROUTED, torch.float32, 2)
    inputs = [t.requires_grad_() for t in (x, weight, probs)]
    out = pad_conv2d(x, weight, bias, probs, *rest, gpu_kernel='triton')
    with pytest.warns(UserWarning, match='shared memory'):
        got = torch.autograd.grad(out.sum(), inputs)
    ref = pad_conv2d_reference(x, weight, bias, probs, *rest)
    for a, b in zip(got, torch.autograd.grad(ref.sum(), inputs)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('where', ['forward', 'backward'])
def test_in_strict_mode_a_failing_kernel_raises(where, on_gpu, monkeypatch):
    """``PADSEG_KERNEL_FALLBACK=0`` (these tests, the GPU check): the error,
    not the reference's result."""
    def broken(*args):
        raise RuntimeError('kernel broke')

    monkeypatch.setenv('PADSEG_KERNEL_FALLBACK', '0')
    monkeypatch.setattr(triton_pad, '_forward' if where == 'forward'
                        else '_backward', broken)
    x, weight, bias, probs, rest = geometry_args(ROUTED, torch.float32)
    probs.requires_grad_()
    with pytest.raises(RuntimeError, match='kernel broke'):
        pad_conv2d(x, weight, bias, probs, *rest,
                   gpu_kernel='triton').sum().backward()
    assert not dispatch._triton_broken


def test_a_bad_fallback_setting_is_named_as_soon_as_triton_is_chosen(
        on_gpu, monkeypatch):
    monkeypatch.setenv('PADSEG_KERNEL_FALLBACK', 'maybe')
    x = torch.empty(1, 16, 5, 5)
    with pytest.raises(ValueError, match='PADSEG_KERNEL_FALLBACK'):
        dispatch.triton_wanted(x, 'triton')
    assert not dispatch.triton_wanted(x, 'reference')  # not read: no Triton
    with pytest.raises(ValueError, match='PADSEG_KERNEL_FALLBACK'):
        dispatch.triton_failed(RuntimeError('x'))


def test_weight_gradient_is_deterministic_over_any_split(monkeypatch):
    """Split-K partial sums added in a fixed order: the same bits on every
    run, and the same values whatever the number of slices."""
    x, weight, bias, probs, rest = geometry_args(WIDE_GEOMETRIES[0],
                                                 torch.float32, 3)
    grad = torch.randn(3, 40, 6, 5)

    def weight_grad():
        w = weight.clone().requires_grad_()
        out = triton_pad.pad_conv2d_triton(x, w, bias, probs, *rest)
        return torch.autograd.grad(out, [w], grad)[0]

    first, again = weight_grad(), weight_grad()
    assert torch.equal(first, again)
    monkeypatch.setattr(triton_pad._Geometry, 'splits', lambda self, x: 1)
    torch.testing.assert_close(weight_grad(), first, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(triton_pad._Geometry, 'splits', lambda self, x: 7)
    torch.testing.assert_close(weight_grad(), first, rtol=1e-5, atol=1e-5)


def test_argmax_on_the_gpu_path_reads_nothing_back(on_gpu, monkeypatch):
    """No host synchronisation: the candidate counts that decide the CPU
    and reference paths are never asked for."""
    def no_sync(*args, **kwargs):
        raise AssertionError('bincount: a read-back from the device')

    x, weight, bias, probs, rest = geometry_args(ROUTED, torch.float32, 2)
    index = probs.argmax(1)
    one_hot = F.one_hot(index, probs.shape[1]).permute(0, 3, 1, 2).float()
    expected = pad_conv2d_reference(x, weight, bias, one_hot, *rest)
    monkeypatch.setattr(dispatch.torch, 'bincount', no_sync)
    out = pad_conv2d(x, weight, bias, one_hot, *rest, index=index,
                     gpu_kernel='triton')
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_depthwise_layers_take_the_reference_even_when_triton_is_asked(
        on_gpu, monkeypatch):
    """Too few channels per group for a matrix product: the kernels would
    run almost empty tiles."""
    monkeypatch.setattr(dispatch, '_triton', lambda *a: pytest.fail(
        'a depthwise layer reached the Triton kernels'))
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[3],
                                                 torch.float32, 2)
    torch.testing.assert_close(
        pad_conv2d(x, weight, bias, probs, *rest, gpu_kernel='triton'),
        pad_conv2d_reference(x, weight, bias, probs, *rest))


def test_pixel_counts_past_32_bits_are_refused_clearly():
    x = torch.empty(1, 1, 1, 1).expand(2**16, 1, 2**8, 2**8)
    with pytest.raises(ValueError, match='32 bits'):
        triton_pad._Geometry(x, torch.empty(1, 1, 3, 3), (2**8, 2**8),
                             (1, 1), [(1, 1)], [(1, 1)], 1)
