"""The columns path as a GPU runs it (``gpu_kernel='columns'``): PyTorch
operations only (no compiled kernels), chunks of whole images, cuBLAS-style
products, the fold as dense per-tap adds. Proven here on CPU tensors against
eq. 1 (``pad_conv2d_reference``) in float64: the output and all four
gradients (input, weight, bias, probabilities) for soft, hard
(straight-through) and argmax steps, in float32 and bfloat16, NCHW and
channels-last; chunks that really split; a per-layer fallback."""
import pytest
import torch
import torch.nn.functional as F

from helpers.pad_geometry import geometry_args
from padseg.ops import PADConv2d, dispatch, fast_plan, link_pad_chain
from padseg.ops import pad_conv2d
from padseg.ops.pad_conv import gumbel_softmax
from padseg.ops.reference import pad_conv2d_reference

# (in, out, kernel, stride, base dilation, groups, dilations, H, W, bias):
# a plain layer, stride 2 with base dilation 2 and 2 groups of 16 channels,
# a 3x5 kernel with two candidates.
GEOMETRIES = [
    (16, 24, 3, 1, 1, 1, (1, 2, 4), 9, 8, True),
    (32, 48, 3, 2, 2, 2, (1, 2, 4), 11, 10, False),
    (16, 40, (3, 5), 1, 1, 1, (1, 3), 7, 9, True),
]
#: largest error over the largest float64 value
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 3e-2}


@pytest.fixture(autouse=True)
def torch_operations(monkeypatch):
    """No compiled kernels (as on a GPU), and the reference refused: a test
    that passed through it would prove nothing about the columns path."""
    monkeypatch.setenv('PADSEG_COMPILED', '0')

    def refuse(*args):
        raise AssertionError('the reference ran instead of the columns path')

    monkeypatch.setattr(dispatch, 'pad_conv2d_reference', refuse)


def step_probs(mode, probs):
    """``(probs, index)`` of a soft, hard (straight-through) or argmax
    step."""
    if mode == 'soft':
        return probs.float().requires_grad_(), None
    if mode == 'hard':
        logits = probs.float().log().requires_grad_()
        hard = gumbel_softmax(logits, tau=1.0, hard=True)
        return hard, hard.max(1)[1]
    index = probs.argmax(1)
    return F.one_hot(index, probs.shape[1]).permute(0, 3, 1, 2).float(), index


def rel_error(got, expected):
    got, expected = got.detach().double(), expected.detach().double()
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize('geometry', GEOMETRIES)
@pytest.mark.parametrize('mode', ['soft', 'hard', 'argmax'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('layout', ['nchw', 'channels_last'])
def test_output_and_all_four_gradients_match_equation_1(geometry, mode,
                                                        dtype, layout):
    torch.manual_seed(0)
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float64, 3)
    probs, index = step_probs(mode, probs)
    fmt = (torch.channels_last if layout == 'channels_last' else
           torch.contiguous_format)
    low = [x.to(dtype).contiguous(memory_format=fmt), weight.to(dtype)]
    low += [] if bias is None else [bias.to(dtype)]
    training = mode != 'argmax'
    leaves = [t.clone().requires_grad_(training) for t in low]
    wide = [t.detach().double().requires_grad_(training) for t in leaves]
    wide_probs = probs.detach().double().requires_grad_(training)
    b, b_wide = (leaves[2], wide[2]) if bias is not None else (None, None)
    with torch.set_grad_enabled(training):
        out = pad_conv2d(leaves[0], leaves[1], b, probs, *rest, index=index,
                         gpu_kernel='columns')
        ref = pad_conv2d_reference(wide[0], wide[1], b_wide, wide_probs,
                                   *rest)
    assert out.dtype == dtype
    assert out.is_contiguous(memory_format=fmt)
    assert rel_error(out, ref) <= TOLERANCE[dtype]
    if not training:
        return
    grad = torch.randn(ref.shape, dtype=torch.float64)
    got = torch.autograd.grad(out, leaves + [probs], grad.to(dtype))
    expected = torch.autograd.grad(ref, wide + [wide_probs], grad)
    names = ['x', 'weight', 'bias'][:len(leaves)] + ['probs']
    for name, g, e in zip(names, got, expected):
        assert g.shape == e.shape, name
        assert rel_error(g, e) <= TOLERANCE[dtype], name
    assert got[0].is_contiguous(memory_format=fmt)
    assert got[-1].dtype == torch.float32


def test_chunks_split_over_images_and_rows(monkeypatch):
    """Three images, two per chunk (then one), and rows of one image per
    chunk: the weight and probability gradients are summed over chunks and
    the fold of one chunk adds into rows another chunk's taps reach."""
    geometry = (16, 8, 3, 1, 1, 1, (1, 2, 4), 6, 5, True)
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float64, 3)
    plan = fast_plan.Plan.of(x, weight, (6, 5), *rest)
    assert list(plan.chunks()) == [(0, 3, 0, 6)]
    monkeypatch.setattr(fast_plan, '_CHUNK_BYTES', 1)
    for pixels, chunks in ((2 * 30, [(0, 2, 0, 6), (2, 3, 0, 6)]),
                           (10, [(n, n + 1, r, r + 2) for n in range(3)
                                 for r in (0, 2, 4)])):
        monkeypatch.setattr(fast_plan, '_CHUNK_PIXELS', pixels)
        plan = fast_plan.Plan.of(x, weight, (6, 5), *rest)
        assert list(plan.chunks()) == chunks
        leaves = [t.clone().requires_grad_() for t in (x, weight, bias,
                                                        probs)]
        out = pad_conv2d(*leaves, *rest, gpu_kernel='columns')
        ref = pad_conv2d_reference(*leaves, *rest)
        torch.testing.assert_close(out, ref)
        grad = torch.randn_like(ref)
        for got, expected in zip(torch.autograd.grad(out, leaves, grad),
                                 torch.autograd.grad(ref, leaves, grad)):
            torch.testing.assert_close(got, expected)


def test_gradients_are_deterministic(monkeypatch):
    """No atomic adds: the same step twice gives the same bits."""
    monkeypatch.setattr(fast_plan, '_CHUNK_PIXELS', 30)
    monkeypatch.setattr(fast_plan, '_CHUNK_BYTES', 1)
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[0],
                                                 torch.float32, 3)
    runs = []
    for _ in range(2):
        leaves = [t.clone().requires_grad_() for t in (x, weight, bias,
                                                        probs)]
        out = pad_conv2d(*leaves, *rest, gpu_kernel='columns')
        runs.append(torch.autograd.grad(out.square().sum(), leaves))
    for a, b in zip(*runs):
        assert torch.equal(a, b)


def test_a_failing_path_falls_back_in_that_layer_only(monkeypatch):
    """One layer's failure is that layer's: it warns once, naming itself and
    the error, and runs the reference; the other layer keeps its path. With
    PADSEG_KERNEL_FALLBACK=0 the error is raised."""
    monkeypatch.undo()  # the reference may run here
    monkeypatch.setenv('PADSEG_COMPILED', '0')
    net = torch.nn.Sequential(PADConv2d(16, 16, 3, padding=1),
                              PADConv2d(16, 32, 3, padding=1))
    link_pad_chain(net)
    columns = dispatch.pad_conv2d_columns
    calls = []

    def failing_for_32_outputs(x, weight, *args, **kwargs):
        calls.append(weight.shape[0])
        if weight.shape[0] == 32:
            raise RuntimeError('no kernel image for this GPU')
        return columns(x, weight, *args, **kwargs)

    monkeypatch.setattr(dispatch, 'pad_conv2d_columns',
                        failing_for_32_outputs)
    x = torch.randn(2, 16, 6, 6)
    monkeypatch.setenv('PADSEG_KERNEL_FALLBACK', '0')
    with pytest.raises(RuntimeError, match='no kernel image'):
        net(x)
    monkeypatch.setenv('PADSEG_KERNEL_FALLBACK', '1')
    with pytest.warns(UserWarning, match=r"PAD layer 1: .*no kernel image.*"
                                         'reference'):
        torch.manual_seed(1)  # the same Gumbel noise in both calls
        out = net(x)
    assert net[1].kernel_failure.startswith('RuntimeError: no kernel image')
    assert net[0].kernel_failure is None
    calls.clear()
    with torch.no_grad():
        torch.manual_seed(1)
        again = net(x)  # no second warning, the first layer on its path
    assert calls == [16]
    torch.testing.assert_close(again, out)
    monkeypatch.setenv('PADSEG_KERNEL_FALLBACK', 'maybe')
    with pytest.raises(ValueError, match='PADSEG_KERNEL_FALLBACK'):
        PADConv2d(16, 16, 3, padding=1)(x)
