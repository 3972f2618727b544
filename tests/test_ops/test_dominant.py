"""The dominant-candidate argmax of ``padseg/ops/dominant.py`` (one plain
convolution, a gather for the other pixels) against the definition, and
through the dispatcher as ``gpu_kernel='dominant'``."""
import pytest
import torch
import torch.nn.functional as F

from helpers.pad_geometry import GEOMETRIES, WIDE_GEOMETRIES, geometry_args
from padseg.ops import dispatch, pad_conv2d
from padseg.ops.dominant import pad_conv2d_dominant
from padseg.ops.reference import pad_conv2d_reference


def argmax_case(geometry, dtype=torch.float64, batch=2):
    x, weight, bias, probs, rest = geometry_args(geometry, dtype, batch)
    index = probs.argmax(1)
    one_hot = F.one_hot(index, probs.shape[1]).permute(0, 3, 1, 2).to(dtype)
    expected = pad_conv2d_reference(x, weight, bias, one_hot, *rest)
    return x, weight, bias, index, rest, expected


@pytest.mark.parametrize('geometry', GEOMETRIES + WIDE_GEOMETRIES)
def test_matches_reference_for_every_dominant_choice(geometry):
    x, weight, bias, index, rest, expected = argmax_case(geometry)
    for dominant in (None, *range(len(rest[1]))):
        out = pad_conv2d_dominant(x, weight, bias, index, *rest,
                                  dominant=dominant)
        torch.testing.assert_close(out, expected, msg=f'{dominant}')


def test_one_candidate_everywhere_is_that_convolution():
    x, weight, bias, index, rest, _ = argmax_case(GEOMETRIES[0])
    out = pad_conv2d_dominant(x, weight, bias, torch.full_like(index, 2),
                              *rest)
    stride, paddings, dilations, groups = rest
    assert torch.equal(out, F.conv2d(x, weight, bias, stride, paddings[2],
                                     dilations[2], groups))


def test_small_chunks_give_the_same_result(monkeypatch):
    x, weight, bias, index, rest, expected = argmax_case(WIDE_GEOMETRIES[0])
    monkeypatch.setattr('padseg.ops.dominant._CHUNK_BYTES', 1)
    torch.testing.assert_close(
        pad_conv2d_dominant(x, weight, bias, index, *rest), expected)


def test_bfloat16_under_autocast_keeps_the_convolutions_dtype():
    x, weight, bias, index, rest, expected = argmax_case(GEOMETRIES[1],
                                                         torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = pad_conv2d_dominant(x, weight, bias, index, *rest)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=5e-2, atol=5e-2)


def test_dispatcher_takes_it_on_the_gpu_for_argmax_only(monkeypatch):
    monkeypatch.setattr(dispatch, '_on_gpu', lambda x: True)
    calls = []
    monkeypatch.setattr(dispatch, 'pad_conv2d_dominant',
                        lambda *a: calls.append(1) or pad_conv2d_dominant(*a))
    x, weight, bias, index, rest, expected = argmax_case(GEOMETRIES[2],
                                                         torch.float32)
    one_hot = F.one_hot(index, len(rest[1])).permute(0, 3, 1, 2).float()
    out = pad_conv2d(x, weight, bias, one_hot, *rest, index=index,
                     gpu_kernel='dominant')
    torch.testing.assert_close(out, expected.float(), rtol=1e-4, atol=1e-5)
    assert calls == [1]
    probs = torch.softmax(torch.randn_like(one_hot), 1).requires_grad_()
    pad_conv2d(x, weight, bias, probs, *rest, gpu_kernel='dominant')
    assert calls == [1], 'training is not the dominant path'
