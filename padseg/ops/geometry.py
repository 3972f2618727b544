"""Where a PAD layer's candidates read: the candidate geometry, written once.

A PAD layer of kernel ``(KH, KW)``, base dilation ``(dh0, dw0)`` and padding
``(ph0, pw0)`` has one candidate per dilation multiplier ``m``: dilation
``(m * dh0, m * dw0)`` and the padding that keeps its output the size of the
base one and its windows centred on the same pixels. Tap ``(a, b)`` of
output pixel ``(i, j)`` then reads input pixel ``(i * sh + a * dh - ph, j *
sw + b * dw - pw)``. :class:`~padseg.ops.PADConv2d`, the paths of
:mod:`padseg.ops.fast_paths` and ``benchmarks/gpu_check.py`` take the
geometry from here.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ['Pair', 'candidate_dilations', 'candidate_paddings',
           'output_size', 'tap_offsets']

#: (height, width) of a stride, padding, dilation or kernel size
Pair = Tuple[int, int]


def candidate_dilations(dilation: Pair,
                        multipliers: Sequence[int]) -> List[Pair]:
    """``(dh, dw)`` of each candidate: the base dilation times each
    multiplier."""
    return [(m * dilation[0], m * dilation[1]) for m in multipliers]


def candidate_paddings(kernel: Pair, padding: Pair, dilation: Pair,
                       dilations: Sequence[Pair]) -> List[Pair]:
    """The padding of each candidate of ``dilations``: the base padding
    grown by half the extra reach, so every candidate's output has the base
    one's size and centres (odd kernels)."""
    return [tuple(p + (d - d0) * (k - 1) // 2
                  for p, d, d0, k in zip(padding, dil, dilation, kernel))
            for dil in dilations]


def output_size(in_size: Pair, kernel: Pair, stride: Pair, padding: Pair,
                dilation: Pair) -> Pair:
    """The output size of a convolution of this geometry (any candidate's,
    by :func:`candidate_paddings`)."""
    return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1
                 for size, p, d, k, s in zip(in_size, padding, dilation,
                                             kernel, stride))


def tap_offsets(kernel: Pair, paddings: Sequence[Pair],
                dilations: Sequence[Pair],
                device: Optional[torch.device] = None
                ) -> Tuple[Tensor, Tensor]:
    """Where each candidate's taps read, relative to an output pixel's
    window origin ``(i * sh, j * sw)``: rows ``a * dh_k - ph_k``, ``(D,
    KH)``, and columns ``b * dw_k - pw_k``, ``(D, KW)``, int64."""
    kh, kw = kernel
    rows = torch.tensor([[a * dh - ph for a in range(kh)]
                         for (ph, _), (dh, _) in zip(paddings, dilations)],
                        dtype=torch.int64, device=device)
    cols = torch.tensor([[b * dw - pw for b in range(kw)]
                         for (_, pw), (_, dw) in zip(paddings, dilations)],
                        dtype=torch.int64, device=device)
    return rows, cols
