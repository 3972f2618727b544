"""The compiled PAD kernels: that the fast paths use them, that they refuse
bad arguments, and the fallback when they cannot be built."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from test_fast_paths import GEOMETRIES, geometry_args

from padseg.ops import column_ops, compiled, fast_paths, fast_plan
from padseg.ops.pad_conv import pad_conv2d_reference


class Spy:
    """The kernels, recording which ran."""

    def __init__(self, module):
        self.module, self.calls = module, []

    def __getattr__(self, name):
        def call(*args):
            self.calls.append(name)
            return getattr(self.module, name)(*args)
        return call


@pytest.fixture
def module(monkeypatch):
    """The built kernels (switched on, whatever the environment says)."""
    monkeypatch.setenv('PADSEG_COMPILED', '1')
    module = compiled.kernels()
    assert module is not None, 'the PAD kernels did not build'
    return module


@pytest.fixture
def spy(module, monkeypatch):
    spy = Spy(module)
    monkeypatch.setattr(compiled, 'kernels',
                        lambda dtype=None: spy if dtype in (
                            None, torch.float32, torch.float64) else None)
    return spy


def test_every_pass_runs_compiled(spy):
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[1],
                                                 torch.float32, 2)
    inputs = [t.requires_grad_() for t in (x, weight, probs)]
    out = fast_paths.pad_conv2d_columns(x, weight, bias, probs, *rest)
    out.square().sum().backward()
    assert set(spy.calls) == {'to_channels_last', 'weight_rows', 'mix',
                              'probs_grad', 'fold'}
    ref = pad_conv2d_reference(x, weight, bias, probs, *rest)
    grads = torch.autograd.grad(ref.square().sum(), inputs)
    for t, expected in zip(inputs, grads):
        torch.testing.assert_close(t.grad, expected, rtol=1e-4, atol=1e-5)
    spy.calls.clear()
    index = probs.argmax(1)
    with torch.no_grad():
        fast_paths.pad_conv2d_gather(x, weight, bias, index, *rest)
    assert set(spy.calls) == {'to_channels_last', 'weight_rows',
                              'gather_conv'}


def test_half_precision_does_not_use_them(spy):
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[0], torch.float16,
                                                 2)
    fast_paths.pad_conv2d_columns(x, weight, bias, probs, *rest)
    assert spy.calls == []


def test_kernels_refuse_a_bad_index_and_bad_tensors(module):
    x, weight, _, probs, rest = geometry_args(GEOMETRIES[0], torch.float32)
    plan = fast_plan.Plan.of(x, weight, tuple(probs.shape[-2:]), *rest)
    xp, n_rows = column_ops.pad_input(plan, x, module), plan.out_size[0]
    cols = plan.buffer(x, plan.taps * plan.in_channels)[
        :n_rows * plan.out_size[1] * plan.taps * plan.in_channels]
    index = torch.zeros((1, 1, *plan.out_size), dtype=torch.int64)
    wrows = column_ops.weight_rows(plan, weight, module).contiguous()

    def gather_conv(index=index, wrows=wrows, bias=None, pixels=1):
        return module.gather_conv(xp, index, plan.offsets, wrows, bias,
                                  pixels, *plan.placement)

    assert gather_conv().shape == (1, plan.out_channels, *plan.out_size)
    with pytest.raises(RuntimeError, match='candidate index 3'):
        gather_conv(index=index + 3)  # 3 candidates: 0..2
    with pytest.raises(RuntimeError, match='weight rows'):
        gather_conv(wrows=wrows.double())
    with pytest.raises(RuntimeError, match='weight rows'):
        gather_conv(wrows=wrows[..., 1:].contiguous())
    with pytest.raises(RuntimeError, match='bias'):
        gather_conv(bias=torch.zeros(plan.out_channels + 1))
    with pytest.raises(RuntimeError, match='pixels per block'):
        gather_conv(pixels=0)
    with pytest.raises(RuntimeError, match='padded input'):
        module.mix(xp.permute(0, 3, 1, 2), probs, plan.offsets, cols,
                   0, 0, n_rows, *plan.placement)
    with pytest.raises(RuntimeError, match='dtype'):
        module.mix(xp, probs.double(), plan.offsets, cols,
                   0, 0, n_rows, *plan.placement)
    with pytest.raises(RuntimeError, match='reach outside'):
        module.mix(xp, probs, plan.offsets + xp.numel(), cols,
                   0, 0, n_rows, *plan.placement)
    with pytest.raises(RuntimeError, match='chunk outside'):
        module.mix(xp, probs, plan.offsets, cols,
                   0, 0, n_rows + 1, *plan.placement)


def test_a_failed_build_warns_once_and_falls_back(monkeypatch):
    def broken_build():
        raise OSError('no C++ compiler here')

    monkeypatch.setenv('PADSEG_COMPILED', '1')
    monkeypatch.setattr(compiled, '_state', {})
    monkeypatch.setattr(compiled, '_build', broken_build)
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[2],
                                                 torch.float32, 2)
    with pytest.warns(UserWarning, match='no C.. compiler here'):
        out = fast_paths.pad_conv2d_columns(x, weight, bias, probs, *rest)
    torch.testing.assert_close(
        out, pad_conv2d_reference(x, weight, bias, probs, *rest))
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # warned once only
        assert compiled.kernels() is None


def test_switched_off_and_checked_by_the_environment(monkeypatch):
    monkeypatch.setenv('PADSEG_COMPILED', '0')
    assert compiled.kernels() is None
    monkeypatch.setenv('PADSEG_COMPILED', 'fast')
    with pytest.raises(ValueError, match='PADSEG_COMPILED'):
        compiled.kernels()


@pytest.mark.parametrize('stride', [1, 2])
def test_two_threads_give_the_reference(stride, module):
    """The kernels split work over threads (the fold by input rows, so that
    no two threads add into the same values); the suite otherwise runs with
    one thread."""
    geometry = (16, 8, 3, stride, 1, 1, (1, 2, 4), 13, 11, True)
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float64, 2)
    inputs = [t.requires_grad_() for t in (x, weight, bias, probs)]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = fast_paths.pad_conv2d_columns(x, weight, bias, probs, *rest)
        grads = torch.autograd.grad(out.square().sum(), inputs)
        with torch.no_grad():
            gathered = fast_paths.pad_conv2d_gather(x, weight, bias,
                                                    probs.argmax(1), *rest)
    finally:
        torch.set_num_threads(threads)
    ref = pad_conv2d_reference(x, weight, bias, probs, *rest)
    torch.testing.assert_close(out, ref)
    for got, expected in zip(grads, torch.autograd.grad(ref.square().sum(),
                                                        inputs)):
        torch.testing.assert_close(got, expected)
    one_hot = torch.zeros_like(probs).scatter_(1, probs.argmax(1, True), 1)
    torch.testing.assert_close(
        gathered, pad_conv2d_reference(x, weight, bias, one_hot, *rest))


@pytest.mark.parametrize('channels, size', [((20, 12), (13, 11)),
                                           ((16, 8), (8, 16)),
                                           ((9, 17), (5, 3))])
def test_transposed_copies_are_exact(channels, size, module):
    """The input's copy into the padded channels-last layout and the
    product's transposed copy into the NCHW output go in 8x8 blocks where
    both sides have 8 values (in vector registers for float32), the rest one
    value at a time: sizes with both."""
    (cin, cout), (h, w) = channels, size
    geometry = (cin, cout, 3, 1, 1, 1, (1, 2, 4), h, w, True)
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float32, 2)
    plan = fast_plan.Plan.of(x, weight, tuple(probs.shape[-2:]), *rest)
    (hp, wp), top, left = plan.padded, plan.top, plan.left
    padded = F.pad(x, (left, wp - left - w, top, hp - top - h))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert torch.equal(column_ops.pad_input(plan, x, module),
                           padded.permute(0, 2, 3, 1))
        with torch.no_grad():
            out = fast_paths.pad_conv2d_gather(x, weight, bias,
                                               probs.argmax(1), *rest)
    finally:
        torch.set_num_threads(threads)
    one_hot = torch.zeros_like(probs).scatter_(1, probs.argmax(1, True), 1)
    torch.testing.assert_close(
        out, pad_conv2d_reference(x, weight, bias, one_hot, *rest))


def test_the_built_library_is_loaded_not_rebuilt(module, monkeypatch,
                                                  tmp_path):
    def no_compiler(*args):
        raise AssertionError('compiled again')

    monkeypatch.setattr(compiled, '_compile', no_compiler)
    assert callable(compiled._build().mix)
    # Another source is another library, built on its own.
    name = compiled._library()[0]
    changed = tmp_path / 'pad_columns.cpp'
    changed.write_text(open(compiled.SOURCE).read() + '\n// changed\n')
    monkeypatch.setattr(compiled, 'SOURCE', str(changed))
    assert compiled._library()[0] != name
    with pytest.raises(AssertionError, match='compiled again'):
        compiled._build()
