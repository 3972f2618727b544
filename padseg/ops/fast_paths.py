"""Fast exact paths of the PAD convolution, in plain PyTorch operations.

:func:`padseg.ops.reference.pad_conv2d_reference` runs one full convolution per
candidate dilation and mixes them per pixel: ``D`` times the work of a plain
convolution, forward and backward. The paths here compute the same function
with one convolution's worth of matrix products:

* columns: the ``K*K*C`` input values that output pixel ``p`` reads at
  dilation ``d_k`` form row ``p`` of ``U_k``, a strided view (an im2col
  without a copy) of the input, padded once for the largest candidate and
  stored channels-last. The output is ``W (sum_k p_k * U_k)^T + b``: the
  candidates are mixed in the columns, so one matrix product remains;
* argmax evaluation (one-hot ``probs``): each pixel's columns are gathered at
  its own dilation (``index_select`` of input rows), then one matrix product;
* backward, with the mixed columns ``M = sum_k p_k * U_k`` recomputed rather
  than saved and ``G = grad_out^T W`` (the columns' gradient):
  ``grad_W = grad_out M``, ``grad_p_k = sum_{tap, channel} G * U_k`` and
  ``grad_x = sum_k fold_k(p_k * G)``, each fold one ``index_add_`` of the
  weighted columns into the input's channels-last rows. No per-candidate
  output is formed.

The work runs in chunks of output rows of one image, so the column buffers
stay at a few megabytes at most: a training step needs little more memory
than a plain convolution, and the few large blocks are allocated once per
call and reused (fresh pages are costly). The chunks of the gather path
(evaluation, no autograd) have that size whatever the input's.

Where :mod:`padseg.ops.compiled` has its kernels (float32 and float64 on the
CPU), the per-candidate passes (the mix, the probabilities' gradient, the
fold) run fused, one pass each over a chunk; argmax evaluation runs its
whole loop over chunks (gather, product, output) in one call; and the
transposed copies (the input's padded channels-last copy, the weight's rows,
the output) go in vector-register blocks. Otherwise they run in the PyTorch
operations above. Both give the same results.
"""
import functools
from types import ModuleType
from typing import Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import compiled
from .reference import Pair

__all__ = ['pad_conv2d_columns', 'pad_conv2d_gather', 'needs_grad']

def needs_grad(*tensors: Optional[Tensor]) -> bool:
    """Whether autograd will want a gradient of any of ``tensors``."""
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors)


#: A chunk's column buffer holds at most this many bytes (and, with
#: autograd, at most as much as the input) ...
_CHUNK_BYTES = 1 << 22
#: ... unless that is fewer output pixels than this: fewer, larger chunks
#: run faster (fewer small operations), and at C = 128 a training step then
#: needs about 1.8x a plain convolution's memory (docs/benchmarks.md).
_CHUNK_PIXELS = 384
#: Argmax evaluation with the compiled kernels: each thread multiplies
#: blocks of about this many bytes of columns, or this many output pixels if
#: that is more, on its own (see ``gather_conv`` in csrc/pad_columns.cpp).
_GATHER_BLOCK_BYTES = 1 << 20
_GATHER_BLOCK_PIXELS = 256
def _tap_offsets(kernel: Pair, paddings: Sequence[Pair],
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


class _Plan:
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
            self.row_offsets, self.col_offsets = _tap_offsets(
                self.kernel, self.paddings, self.dilations)
            # Where each candidate's tap starts in the padded input
            # (channels-last), from the output pixel's own position.
            self.offsets = ((self.row_offsets[:, :, None] * self.padded[1] +
                             self.col_offsets[:, None, :]) * c).view(
                                 len(dilations), -1)

    @staticmethod
    def of(x: Tensor, weight: Tensor, out_size: Pair, stride: Pair,
           paddings: Sequence[Pair], dilations: Sequence[Pair], groups: int,
           budget: Optional[int] = None) -> '_Plan':
        """The plan of these tensors' geometry. Plans are kept (read only)
        and reused: building one takes about 0.1 ms, a few per cent of a
        small layer's evaluation."""
        if budget is None:
            budget = min(_CHUNK_BYTES, x.numel() * x.element_size())
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
        """See :func:`_gather_table`: the input row that each candidate's
        taps read for each output pixel, ``(D, H_out, W_out, KH*KW)``."""
        return _gather_table(self.in_size, self.out_size, self.stride,
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


_kept_plan = functools.lru_cache(maxsize=32)(_Plan)


def _group_columns(cols: Tensor, taps: int, groups: int) -> Tensor:
    """Columns ``(P, T*C)`` -> ``(g, P, T*C/g)``: each group's channels."""
    p = cols.shape[0]
    return cols.view(p, taps, groups, -1).permute(2, 0, 1, 3).reshape(
        groups, p, -1)


def _matmul_into(out: Tensor, cols: Tensor, wrows: Tensor,
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
    res = torch.bmm(wrows, _group_columns(cols, taps, g).transpose(1, 2))
    res = res.view(out.shape)
    out.copy_(res if bias is None else res + bias[:, None])


def _columns_grad_into(out: Tensor, grad: Tensor, wrows: Tensor,
                       taps: int) -> None:
    """``out (P, T*C) = grad^T W``, the adjoint of :func:`_matmul_into` in
    the columns, for ``grad (O, P)``."""
    g = wrows.shape[0]
    if g == 1:
        torch.mm(grad.t(), wrows[0], out=out)
        return
    p = grad.shape[1]
    res = torch.bmm(grad.view(g, -1, p).transpose(1, 2), wrows)
    out.view(p, taps, g, -1).copy_(
        res.view(g, p, taps, -1).permute(1, 2, 0, 3))


def _weight_grad_add(acc: Tensor, grad: Tensor, cols: Tensor,
                     taps: int) -> None:
    """``acc (g, O/g, T*C/g) += grad cols`` for ``grad (O, P)``, ``cols (P,
    T*C)``."""
    g = acc.shape[0]
    grad, cols = grad.to(acc.dtype), cols.to(acc.dtype)
    if g == 1:
        acc[0].addmm_(grad, cols)
    else:
        acc.baddbmm_(grad.view(g, -1, grad.shape[1]),
                     _group_columns(cols, taps, g))


def _rows(t: Tensor, n: int, r0: int, r1: int,
          buffer: Optional[Tensor] = None) -> Tensor:
    """Rows ``[r0, r1)`` of image ``n`` of an NCHW tensor as the matrix
    ``(channels, pixels)``: a view of a contiguous ``t``, else a copy into
    ``buffer``."""
    rows = t[n, :, r0:r1]
    if buffer is None:
        return rows.view(t.shape[1], -1)
    return buffer[:rows.numel()].view(rows.shape).copy_(rows).view(
        t.shape[1], -1)


def _forward_columns(plan: _Plan, xp: Tensor, wrows: Tensor,
                     bias: Optional[Tensor], coef: Tensor) -> Tensor:
    out = xp.new_empty(plan.batch, plan.out_channels, *plan.out_size)
    buffer = plan.buffer(xp, plan.taps * plan.in_channels)
    scratch = plan.buffer(xp, plan.out_channels)
    for n, r0, r1 in plan.chunks():
        cols = plan.mix(xp, coef, n, r0, r1, plan.chunk(buffer, r0, r1))
        _matmul_into(_rows(out, n, r0, r1),
                     cols.view((r1 - r0) * plan.out_size[1], -1), wrows,
                     bias, plan.taps, scratch)
    return out


def _prepare(plan: _Plan, x: Tensor, weight: Tensor, bias: Optional[Tensor],
             probs: Tensor):
    return (plan.pad(x), plan.weight_rows(weight),
            None if bias is None else bias.to(x.dtype),
            probs.to(x.dtype).contiguous())


class _PADConvColumns(torch.autograd.Function):
    """PAD convolution by mixed columns; backward recomputes the columns."""

    @staticmethod
    def forward(ctx, x, weight, bias, probs, plan):
        xp, wrows, bias_, coef = _prepare(plan, x, weight, bias, probs)
        ctx.plan = plan
        ctx.has_bias = bias is not None
        ctx.probs_dtype = probs.dtype
        # The padded input is kept; W's (tap, channel) copy is made again in
        # backward, where its memory then takes the weight gradient.
        ctx.save_for_backward(xp, weight, coef)
        return _forward_columns(plan, xp, wrows, bias_, coef)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        xp, weight, coef = ctx.saved_tensors
        plan = ctx.plan
        wrows = plan.weight_rows(weight)
        need_x, need_w, need_b, need_p = ctx.needs_input_grad[:4]
        dtype, device = xp.dtype, xp.device
        acc_dtype = torch.promote_types(dtype, torch.float32)
        grad_out = grad_out.to(dtype)
        # A gradient not laid out as NCHW (e.g. the expanded one of
        # ``out.sum()``) is copied chunk by chunk, not all at once.
        grad_buffer = (None if grad_out.is_contiguous() else
                       plan.buffer(xp, plan.out_channels))
        width = plan.taps * plan.in_channels
        buffer = (plan.buffer(xp, width) if need_w or need_x or need_p else
                  None)
        gbuffer = plan.buffer(xp, width) if need_x or need_p else None
        kernels = plan.kernels
        (h, w), c = plan.in_size, plan.in_channels
        if need_x and kernels is not None:  # channels-last, unpadded
            grad_cl = xp.new_zeros(plan.batch, h, w, c)
        elif need_x:  # channels-last rows of each image and a row that
            # collects what taps outside the image would add (dropped)
            grad_rows = xp.new_zeros(plan.batch, h * w + 1, c)
            grad_cl = grad_rows[:, :-1].view(plan.batch, h, w, c)
            table = plan.table()
        grad_w = (torch.zeros(wrows.shape, dtype=acc_dtype, device=device)
                  if need_w else None)
        grad_p = (torch.empty(coef.shape, dtype=acc_dtype, device=device)
                  if need_p else None)
        for n, r0, r1 in plan.chunks():
            grad = _rows(grad_out, n, r0, r1, grad_buffer)
            if need_w:
                cols = plan.mix(xp, coef, n, r0, r1,
                                plan.chunk(buffer, r0, r1))
                _weight_grad_add(grad_w, grad, cols.view(grad.shape[1], -1),
                                 plan.taps)
            if not (need_x or need_p):
                continue
            gcols = plan.chunk(gbuffer, r0, r1)
            _columns_grad_into(gcols.view(grad.shape[1], -1), grad, wrows,
                               plan.taps)
            if kernels is not None:
                if need_p:
                    kernels.probs_grad(xp, plan.offsets, gcols, grad_p,
                                       *plan.kernel_chunk(n, r0, r1))
                if need_x:
                    kernels.fold(coef, plan.row_offsets, plan.col_offsets,
                                 gcols, grad_cl, n, r0, r1, *plan.stride)
                continue
            if need_p:
                prod = plan.chunk(buffer, r0, r1)
                for k in range(coef.shape[1]):
                    torch.mul(gcols, plan.columns(xp, k, n, r0, r1),
                              out=prod)
                    torch.sum(prod.view(r1 - r0, -1, width), -1,
                              dtype=acc_dtype, out=grad_p[n, k, r0:r1])
            if need_x:  # grad_x += fold_k(p_k * G) for each candidate k
                part = plan.chunk(buffer, r0, r1)
                for k in range(coef.shape[1]):
                    torch.mul(gcols, coef[n, k, r0:r1, :, None, None, None],
                              out=part)
                    grad_rows[n].index_add_(0, table[k, r0:r1].reshape(-1),
                                            part.view(-1, c))
        del buffer, gbuffer, grad_buffer
        grad_x = None
        if need_x:
            grad_x = grad_cl.permute(0, 3, 1, 2).contiguous()
        if need_w:
            grad_w = grad_w.view(plan.out_channels, *plan.kernel,
                                 -1).permute(0, 3, 1, 2)
            if (wrows.dtype == grad_w.dtype
                    and wrows.untyped_storage().data_ptr() !=
                    weight.untyped_storage().data_ptr()):
                grad_w = wrows.view(grad_w.shape).copy_(grad_w)
            else:
                grad_w = grad_w.to(weight.dtype,
                                   memory_format=torch.contiguous_format)
        grad_b = grad_out.sum((0, 2, 3)) if need_b and ctx.has_bias else None
        if need_p:
            grad_p = grad_p.to(ctx.probs_dtype)
        return grad_x, grad_w, grad_b, grad_p, None


def pad_conv2d_columns(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                       probs: Tensor, stride: Pair, paddings: Sequence[Pair],
                       dilations: Sequence[Pair], groups: int) -> Tensor:
    """PAD convolution for any ``probs`` (soft, straight-through, one-hot)
    with every gradient; the arguments and result of
    :func:`padseg.ops.reference.pad_conv2d_reference`."""
    plan = _Plan.of(x, weight, tuple(probs.shape[-2:]), stride, paddings,
                    dilations, groups)
    if needs_grad(x, weight, bias, probs):
        return _PADConvColumns.apply(x, weight, bias, probs, plan)
    return _forward_columns(plan, *_prepare(plan, x, weight, bias, probs))


@functools.lru_cache(maxsize=4)
def _gather_table(in_size: Pair, out_size: Pair, stride: Pair, kernel: Pair,
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
    taps_h, taps_w = _tap_offsets(kernel, paddings, dilations, device)
    rows_in = torch.arange(ho, dtype=itype, device=device)[
        None, :, None] * sh + taps_h[:, None]  # (D, H_out, KH)
    cols_in = torch.arange(wo, dtype=itype, device=device)[
        None, :, None] * sw + taps_w[:, None]  # (D, W_out, KW)
    rows_in = torch.where((rows_in >= 0) & (rows_in < h), rows_in * w,
                          zero_row)
    cols_in = torch.where((cols_in >= 0) & (cols_in < w), cols_in, zero_row)
    return (rows_in[:, :, None, :, None] + cols_in[:, None, :, None, :]
            ).clamp_(max=zero_row).view(-1, ho, wo, kh * kw)


def pad_conv2d_gather(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                      index: Tensor, stride: Pair, paddings: Sequence[Pair],
                      dilations: Sequence[Pair], groups: int) -> Tensor:
    """PAD convolution with one candidate per pixel (``index``, ``(N, H_out,
    W_out)``, as for one-hot ``probs``): each pixel's columns are gathered at
    its own dilation, then multiplied by the weight once. No autograd.

    The compiled kernels run it in one call, each thread on its own blocks of
    output rows, reading the padded channels-last input; in PyTorch
    operations the input is stored channels-last and unpadded, plus one zero
    row per image that every tap falling outside the image reads, and the
    chunks go one after another."""
    plan = _Plan.of(x, weight, tuple(index.shape[-2:]), stride, paddings,
                    dilations, groups, budget=_CHUNK_BYTES)
    wrows = plan.weight_rows(weight)
    bias = None if bias is None else bias.to(x.dtype)
    if plan.kernels is not None:
        pixels = max(_GATHER_BLOCK_PIXELS, _GATHER_BLOCK_BYTES //
                     (plan.taps * plan.in_channels * x.element_size()))
        return plan.kernels.gather_conv(
            plan.pad(x), index.to(torch.int64)[:, None].contiguous(),
            plan.offsets, wrows.contiguous(), bias, pixels, *plan.placement)
    n_img, c, h, w = x.shape
    ho, wo = plan.out_size
    rows = x.new_empty(n_img, h * w + 1, c)
    for n in range(n_img):  # 2-D transposes take PyTorch's blocked copy
        rows[n, :-1].copy_(x[n].reshape(c, h * w).t())
    rows[:, -1].zero_()
    table = plan.table()
    pixel_c = torch.arange(wo, device=x.device)[None, :]
    out = x.new_empty(n_img, plan.out_channels, ho, wo)
    buffer = plan.buffer(x, plan.taps * c)
    scratch = plan.buffer(x, plan.out_channels)
    for n, r0, r1 in plan.chunks():
        cols = plan.chunk(buffer, r0, r1)
        pixel_r = torch.arange(r0, r1, device=x.device)[:, None]
        torch.index_select(
            rows[n], 0, table[index[n, r0:r1], pixel_r, pixel_c].view(-1),
            out=cols.view(-1, c))
        _matmul_into(_rows(out, n, r0, r1), cols.view((r1 - r0) * wo, -1),
                     wrows, bias, plan.taps, scratch)
    return out
