"""``pad_conv2d_reference``, the definition every path is tested against,
against equation 1 written out pixel by pixel in float64."""
import pytest
import torch

from helpers.pad_geometry import GEOMETRIES, WIDE_GEOMETRIES, geometry_args
from padseg.ops.reference import pad_conv2d_reference


def equation_1(x, weight, bias, probs, stride, paddings, dilations, groups):
    """``y[o, i, j] = sum_k p_k[i, j] sum_{c, a, b} W[o, c, a, b] *
    x[c, i*s + a*d_k - pad_k, j*s + b*d_k - pad_k] + bias[o]``, zeros outside
    the image, looping over every pixel."""
    n, cin, h, w = x.shape
    cout, cg, kh, kw = weight.shape
    og = cout // groups
    out = torch.zeros(n, cout, *probs.shape[-2:], dtype=x.dtype)
    for b in range(n):
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                for k, ((dh, dw), (ph, pw)) in enumerate(zip(dilations,
                                                             paddings)):
                    window = torch.zeros(cin, kh, kw, dtype=x.dtype)
                    for a in range(kh):
                        for c in range(kw):
                            r = i * stride[0] + a * dh - ph
                            s = j * stride[1] + c * dw - pw
                            if 0 <= r < h and 0 <= s < w:
                                window[:, a, c] = x[b, :, r, s]
                    for o in range(cout):
                        g = o // og
                        out[b, o, i, j] += probs[b, k, i, j] * (
                            weight[o] * window[g * cg:(g + 1) * cg]).sum()
    if bias is not None:
        out += bias.view(1, -1, 1, 1)
    return out


@pytest.mark.parametrize('geometry', GEOMETRIES + WIDE_GEOMETRIES[1:])
def test_reference_is_equation_1(geometry):
    x, weight, bias, probs, rest = geometry_args(geometry, torch.float64, 2)
    torch.testing.assert_close(
        pad_conv2d_reference(x, weight, bias, probs, *rest),
        equation_1(x, weight, bias, probs, *rest))


def test_reference_keeps_a_low_precision_dtype():
    x, weight, bias, probs, rest = geometry_args(GEOMETRIES[0],
                                                 torch.float32)
    out = pad_conv2d_reference(x.bfloat16(), weight.bfloat16(),
                               bias.bfloat16(), probs, *rest)
    assert out.dtype == torch.bfloat16
