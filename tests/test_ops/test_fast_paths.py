"""The CPU paths of ``padseg/ops/fast_paths.py`` against the definition,
``pad_conv2d_reference``, with and without the compiled kernels: outputs and
every gradient (input, weight, bias, probabilities) on odd geometries."""
import pytest
import torch
import torch.nn.functional as F

from helpers.pad_geometry import GEOMETRIES, geometry_args
from padseg.ops import fast_paths, fast_plan
from padseg.ops.reference import pad_conv2d_reference

pytestmark = pytest.mark.usefixtures('kernels')


@pytest.fixture(params=['one chunk', 'row chunks'])
def chunking(request, monkeypatch):
    """Whole images in one chunk, or one output row per chunk."""
    if request.param == 'row chunks':
        monkeypatch.setattr(fast_plan, '_CHUNK_PIXELS', 1)
        monkeypatch.setattr(fast_plan, '_CHUNK_BYTES', 1)
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
    index = probs.argmax(1)
    out = fast_paths.pad_conv2d_gather(x, weight, bias, index, *rest)
    ref = pad_conv2d_reference(x, weight, bias, one_hot, *rest)
    torch.testing.assert_close(out, ref)


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
