"""Argmax evaluation without a custom kernel: the dominant candidate's plain
convolution, then a gathered product for the pixels that chose another.

A trained PAD layer in argmax evaluation sends most pixels to one candidate
(the dominant one). Its output is then that candidate's convolution (one
cuDNN call on a GPU) everywhere, overwritten at the other pixels by their own
candidate's response: their ``K*K*C`` input samples gathered at their own
dilation (one ``index`` per chunk of pixels) times the shared weight, one
matrix product per group. Plain PyTorch operations only, so it runs on any
device; :mod:`padseg.ops.dispatch` uses it where a layer asks for
``gpu_kernel='dominant'``.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .reference import Pair

__all__ = ['pad_conv2d_dominant']

#: Bytes of gathered columns per chunk of pixels.
_CHUNK_BYTES = 1 << 28


def pad_conv2d_dominant(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                        index: Tensor, stride: Pair,
                        paddings: Sequence[Pair], dilations: Sequence[Pair],
                        groups: int,
                        dominant: Optional[int] = None) -> Tensor:
    """Argmax evaluation of :func:`~padseg.ops.reference.pad_conv2d_reference`
    for the candidates ``index`` (``(N, H_out, W_out)``), no autograd.

    ``dominant``: the candidate to convolve everywhere; None takes the most
    frequent one (one small read from the device).
    """
    if dominant is None:
        counts = torch.bincount(index.flatten(), minlength=len(dilations))
        dominant = int(counts.argmax())
    out = F.conv2d(x, weight, bias, stride, paddings[dominant],
                   dilations[dominant], groups)
    n, oh, ow = torch.nonzero(index != dominant, as_tuple=True)
    if n.numel() == 0:
        return out
    o, cg, kh, kw = weight.shape
    pad_h = max(p[0] for p in paddings)
    pad_w = max(p[1] for p in paddings)
    xp = F.pad(x.to(out.dtype), (pad_w, pad_w, pad_h, pad_h))
    table = torch.tensor([[dh, dw, ph, pw] for (dh, dw), (ph, pw) in
                          zip(dilations, paddings)], device=x.device)
    dh, dw, ph, pw = table[index[n, oh, ow]].unbind(1)
    # top-left sample of each pixel's window in the padded input, and its taps
    top = oh * stride[0] - ph + pad_h
    left = ow * stride[1] - pw + pad_w
    taps_h = torch.arange(kh, device=x.device)
    taps_w = torch.arange(kw, device=x.device)
    w_groups = weight.to(out.dtype).reshape(groups, o // groups, cg * kh * kw)
    chunk = max(1, _CHUNK_BYTES // (x.shape[1] * kh * kw *
                                    out.element_size()))
    with torch.no_grad():
        for s in range(0, n.numel(), chunk):
            sl = slice(s, s + chunk)
            rows = (top[sl, None] + taps_h * dh[sl, None])[:, :, None]
            cols = (left[sl, None] + taps_w * dw[sl, None])[:, None, :]
            # (M, kh, kw, C): advanced indices around a slice come first
            samples = xp[n[sl, None, None], :, rows, cols]
            samples = samples.permute(0, 3, 1, 2).reshape(-1, groups,
                                                          cg * kh * kw)
            response = torch.bmm(samples.transpose(0, 1),
                                 w_groups.transpose(1, 2))  # (g, M, O/g)
            response = response.transpose(0, 1).reshape(-1, o)
            if bias is not None:
                response = response + bias.to(response.dtype)
            out[n[sl], :, oh[sl], ow[sl]] = response.to(out.dtype)
    return out
