"""The plan of the CPU fast paths (:mod:`padseg.ops.fast_paths`): where
each candidate's taps read, the padded channels-last input, the weight's
rows, the chunks of output rows and their buffers, and the matrix products
that both paths share.
"""
import functools
from types import ModuleType
from typing import Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor

from . import compiled
from .reference import Pair

__all__ = ['Plan', 'tap_offsets', 'gather_table', 'matmul_into',
           'columns_grad_into', 'weight_grad_add', 'rows_of']

#: A chunk's column buffer holds at most this many bytes (and, with
#: autograd, at most as much as the input) ...
_CHUNK_BYTES = 1 << 22
#: ... unless that is fewer output pixels than this: fewer, larger chunks
#: run faster (fewer small operations), and at C = 128 a training step then
#: needs about 1.8x a plain convolution's memory (docs/benchmarks.md).
_CHUNK_PIXELS = 384
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


class Plan:
    """Geometry shared by the paths.

    Candidate ``k`` reads tap ``(a, b)`` of output pixel ``(i, j)`` at input
    position ``(i * sh + a * dh_k - ph_k, j * sw + b * dw_k - pw_k)``. The
    padded input (:meth:`pad`) moves it by ``(top, left)``, the largest
    candidate padding. A chunk's column buffer holds ``budget`` bytes, or
    ``min_pixels`` output pixels if that is more. Made by :meth:`of`.
    """

    def __init__(self, in_shape: Tuple[int, ...],
                 weight_shape: Tuple[int, ...], itemsize: int,
                 device: torch.device, out_size: Pair, stride: Pair,
                 paddings: Tuple[Pair, ...], dilations: Tuple[Pair, ...],
                 groups: int, budget: int, min_pixels: int,
                 kernels: Optional[ModuleType]) -> None:
        n, c, h, w = in_shape
        o, _, kh, kw = weight_shape
        ho, wo = out_size
        self.batch, self.in_channels, self.out_channels = n, c, o
        self.in_size, self.out_size = (h, w), (ho, wo)
        self.device = device
        self.kernel, self.taps = (kh, kw), kh * kw
        self.stride, self.groups = stride, groups
        self.dilations, self.paddings = list(dilations), list(paddings)
        self.top = max(p[0] for p in paddings)
        self.left = max(p[1] for p in paddings)
        reach_h = max((ho - 1) * stride[0] + (kh - 1) * dh - ph
                      for (ph, _), (dh, _) in zip(paddings, dilations))
        reach_w = max((wo - 1) * stride[1] + (kw - 1) * dw - pw
                      for (_, pw), (_, dw) in zip(paddings, dilations))
        self.padded = (self.top + max(reach_h + 1, h),
                       self.left + max(reach_w + 1, w))
        pixels = max(min_pixels, budget // (self.taps * c * itemsize))
        rows = max(1, min(ho, -(-pixels // wo)))
        # As many chunks as that needs, of balanced heights.
        self.rows_per_chunk = -(-ho // -(-ho // rows))
        self.kernels = kernels
        if self.kernels is not None:
            self.row_offsets, self.col_offsets = tap_offsets(
                self.kernel, self.paddings, self.dilations)
            # Where each candidate's tap starts in the padded input
            # (channels-last), from the output pixel's own position.
            self.offsets = ((self.row_offsets[:, :, None] * self.padded[1] +
                             self.col_offsets[:, None, :]) * c).view(
                                 len(dilations), -1)

    @staticmethod
    def of(x: Tensor, weight: Tensor, out_size: Pair, stride: Pair,
           paddings: Sequence[Pair], dilations: Sequence[Pair], groups: int,
           bounded_by_input: bool = True) -> 'Plan':
        """The plan of these tensors' geometry. Plans are kept (read only)
        and reused: building one takes about 0.1 ms, a few per cent of a
        small layer's evaluation. ``bounded_by_input``: chunk buffers no
        larger than the input (with autograd); else the full budget."""
        budget = _CHUNK_BYTES
        if bounded_by_input:
            budget = min(budget, x.numel() * x.element_size())
        kernels = (compiled.kernels(x.dtype)
                   if x.device.type == 'cpu' else None)
        return _kept_plan(tuple(x.shape), tuple(weight.shape),
                          x.element_size(), x.device, tuple(out_size),
                          tuple(stride), tuple(map(tuple, paddings)),
                          tuple(map(tuple, dilations)), groups, budget,
                          _CHUNK_PIXELS, kernels)

    @property
    def placement(self) -> Tuple[int, int, int, int]:
        """``(sh, sw, top, left)``: where output pixels read in the padded
        input, for the compiled kernels."""
        return (*self.stride, self.top, self.left)

    def kernel_chunk(self, n: int, r0: int, r1: int) -> Tuple[int, ...]:
        """A chunk's arguments to the compiled kernels."""
        return (n, r0, r1, *self.placement)

    def table(self) -> Tensor:
        """See :func:`gather_table`: the input row that each candidate's
        taps read for each output pixel, ``(D, H_out, W_out, KH*KW)``."""
        return gather_table(self.in_size, self.out_size, self.stride,
                             self.kernel, tuple(self.paddings),
                             tuple(self.dilations), self.device)

    def chunks(self) -> Iterator[Tuple[int, int, int]]:
        """``(image, first row, end row)`` of each chunk of the output."""
        ho, step = self.out_size[0], self.rows_per_chunk
        for n in range(self.batch):
            for r0 in range(0, ho, step):
                yield n, r0, min(r0 + step, ho)

    def buffer(self, like: Tensor, channels: int) -> Tensor:
        """Room for one chunk with ``channels`` values per output pixel."""
        return like.new_empty(self.rows_per_chunk * self.out_size[1] *
                              channels)

    def chunk(self, buffer: Tensor, r0: int, r1: int) -> Tensor:
        """The start of ``buffer`` as one chunk's columns ``(R, W_out, KH,
        KW, C)``."""
        shape = (r1 - r0, self.out_size[1], *self.kernel, self.in_channels)
        size = (r1 - r0) * self.out_size[1] * self.taps * self.in_channels
        return buffer[:size].view(shape)

    def pad(self, x: Tensor) -> Tensor:
        """``x`` zero-padded and channels-last, ``(N, Hp, Wp, C)``."""
        n, c, h, w = x.shape
        (hp, wp), top, left = self.padded, self.top, self.left
        xp = x.new_empty(n, hp, wp, c)
        if self.kernels is not None and x.is_contiguous():
            self.kernels.to_channels_last(x, xp, top, left)
            return xp
        xp[:, :top].zero_()
        xp[:, top + h:].zero_()
        xp[:, top:top + h, :left].zero_()
        xp[:, top:top + h, left + w:].zero_()
        xp[:, top:top + h, left:left + w].copy_(x.permute(0, 2, 3, 1))
        return xp

    def columns(self, xp: Tensor, k: int, n: int, r0: int,
                r1: int) -> Tensor:
        """``U_k`` of image ``n``, output rows ``[r0, r1)``: a view ``(R,
        W_out, KH, KW, C)`` of the padded input."""
        _, hp, wp, c = xp.shape
        (sh, sw), (dh, dw) = self.stride, self.dilations[k]
        row = self.top - self.paddings[k][0] + r0 * sh
        col = self.left - self.paddings[k][1]
        return xp.as_strided(
            (r1 - r0, self.out_size[1], *self.kernel, c),
            (sh * wp * c, sw * c, dh * wp * c, dw * c, 1),
            xp.storage_offset() + ((n * hp + row) * wp + col) * c)

    def mix(self, xp: Tensor, coef: Tensor, n: int, r0: int, r1: int,
            out: Tensor) -> Tensor:
        """``M = sum_k p_k * U_k`` into ``out`` (``(R, W_out, KH, KW, C)``);
        ``coef`` is ``probs`` in the compute dtype."""
        if self.kernels is not None:
            self.kernels.mix(xp, coef, self.offsets, out,
                             *self.kernel_chunk(n, r0, r1))
            return out
        for k in range(coef.shape[1]):
            cols = self.columns(xp, k, n, r0, r1)
            weight = coef[n, k, r0:r1, :, None, None, None]
            if k == 0:
                torch.mul(cols, weight, out=out)
            else:
                out.addcmul_(cols, weight)
        return out

    def weight_rows(self, weight: Tensor) -> Tensor:
        """``W`` as ``(groups, O/groups, K*K*C/groups)``, columns ordered
        (tap, channel) like the column matrix (a view for a channels-last
        weight, else a copy: the compiled kernels' is several times faster
        than PyTorch's copy of the permuted weight)."""
        g, o = self.groups, self.out_channels
        if self.kernels is not None and weight.is_contiguous():
            return self.kernels.weight_rows(weight, g)
        return weight.reshape(g, o // g, *weight.shape[1:]).permute(
            0, 1, 3, 4, 2).reshape(g, o // g, -1)


@functools.lru_cache(maxsize=4)
def gather_table(in_size: Pair, out_size: Pair, stride: Pair, kernel: Pair,
                  paddings: Tuple[Pair, ...], dilations: Tuple[Pair, ...],
                  device: torch.device) -> Tensor:
    """The rows of an image's block of channels-last rows (``h * w`` input
    pixels and a zero row, see :func:`pad_conv2d_gather`) that each
    candidate's taps read, ``(D, H_out, W_out, KH*KW)``, int64.

    Candidate k's tap (a, b) reads row ``(i * sh + a * dh - ph) * w + j * sw +
    b * dw - pw`` for output pixel (i, j), or the zero row ``h * w`` when
    that falls outside the image. A function of the geometry only, so the
    last few geometries are kept (read only; ``8 * D * H_out * W_out * KH *
    KW`` bytes each) instead of rebuilt on every call."""
    (h, w), (ho, wo), (sh, sw), (kh, kw) = in_size, out_size, stride, kernel
    zero_row = h * w
    itype = torch.int64  # index_add_ ran 2.5x slower with int32 indices
    taps_h, taps_w = tap_offsets(kernel, paddings, dilations, device)
    rows_in = torch.arange(ho, dtype=itype, device=device)[
        None, :, None] * sh + taps_h[:, None]  # (D, H_out, KH)
    cols_in = torch.arange(wo, dtype=itype, device=device)[
        None, :, None] * sw + taps_w[:, None]  # (D, W_out, KW)
    rows_in = torch.where((rows_in >= 0) & (rows_in < h), rows_in * w,
                          zero_row)
    cols_in = torch.where((cols_in >= 0) & (cols_in < w), cols_in, zero_row)
    return (rows_in[:, :, None, :, None] + cols_in[:, None, :, None, :]
            ).clamp_(max=zero_row).view(-1, ho, wo, kh * kw)


_kept_plan = functools.lru_cache(maxsize=32)(Plan)


def group_columns(cols: Tensor, taps: int, groups: int) -> Tensor:
    """Columns ``(P, T*C)`` -> ``(g, P, T*C/g)``: each group's channels."""
    p = cols.shape[0]
    return cols.view(p, taps, groups, -1).permute(2, 0, 1, 3).reshape(
        groups, p, -1)


def matmul_into(out: Tensor, cols: Tensor, wrows: Tensor,
                 bias: Optional[Tensor], taps: int, scratch: Tensor) -> None:
    """``out (O, P) = W cols^T (+ b)`` for columns ``(P, T*C)``.

    Without groups the product is taken as ``cols W^T`` into ``scratch``
    (room for ``P * O`` values) and transposed into ``out``: MKL's matrix
    product runs faster in that orientation at these shapes."""
    g = wrows.shape[0]
    if g == 1:
        res = scratch[:out.numel()].view(out.shape[::-1])
        if bias is None:
            torch.mm(cols, wrows[0].t(), out=res)
        else:
            torch.addmm(bias, cols, wrows[0].t(), out=res)
        out.copy_(res.t())
        return
    res = torch.bmm(wrows, group_columns(cols, taps, g).transpose(1, 2))
    res = res.view(out.shape)
    out.copy_(res if bias is None else res + bias[:, None])


def columns_grad_into(out: Tensor, grad: Tensor, wrows: Tensor,
                       taps: int) -> None:
    """``out (P, T*C) = grad^T W``, the adjoint of :func:`matmul_into` in
    the columns, for ``grad (O, P)``."""
    g = wrows.shape[0]
    if g == 1:
        torch.mm(grad.t(), wrows[0], out=out)
        return
    p = grad.shape[1]
    res = torch.bmm(grad.view(g, -1, p).transpose(1, 2), wrows)
    out.view(p, taps, g, -1).copy_(
        res.view(g, p, taps, -1).permute(1, 2, 0, 3))


def weight_grad_add(acc: Tensor, grad: Tensor, cols: Tensor,
                     taps: int) -> None:
    """``acc (g, O/g, T*C/g) += grad cols`` for ``grad (O, P)``, ``cols (P,
    T*C)``."""
    g = acc.shape[0]
    grad, cols = grad.to(acc.dtype), cols.to(acc.dtype)
    if g == 1:
        acc[0].addmm_(grad, cols)
    else:
        acc.baddbmm_(grad.view(g, -1, grad.shape[1]),
                     group_columns(cols, taps, g))


def rows_of(t: Tensor, n: int, r0: int, r1: int,
          buffer: Optional[Tensor] = None) -> Tensor:
    """Rows ``[r0, r1)`` of image ``n`` of an NCHW tensor as the matrix
    ``(channels, pixels)``: a view of a contiguous ``t``, else a copy into
    ``buffer``."""
    rows = t[n, :, r0:r1]
    if buffer is None:
        return rows.view(t.shape[1], -1)
    return buffer[:rows.numel()].view(rows.shape).copy_(rows).view(
        t.shape[1], -1)
