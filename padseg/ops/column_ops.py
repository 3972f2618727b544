"""The passes of the columns paths (:mod:`padseg.ops.fast_paths`) over one
chunk of a :class:`~padseg.ops.fast_plan.Plan`: the padded input, the
weight's rows, the mixed or selected columns, the matrix products, the
probabilities' gradient and the fold of the columns' gradient.

Each pass runs in the compiled CPU kernels when it is given them
(``kernels``: :func:`padseg.ops.compiled.kernels`, float32 and float64 on
the CPU, one image per chunk), else in PyTorch operations, on any device:
there the per-candidate passes are one elementwise operation per candidate
(per candidate and tap for the fold, each a dense add into the values that
tap reads: no atomic operation, the same sum in the same order every time),
and the products are single ``mm``/``bmm`` calls (cuBLAS on a GPU).
"""
from types import ModuleType
from typing import Optional

import torch
from torch import Tensor

from .fast_plan import Chunk, Plan

__all__ = ['pad_input', 'weight_rows', 'mix', 'select', 'product',
           'columns_grad', 'weight_grad_add', 'probs_grad', 'fold',
           'pixel_matrix', 'pixels_of']


def pad_input(plan: Plan, x: Tensor,
              kernels: Optional[ModuleType]) -> Tensor:
    """``x`` zero-padded and channels-last, ``(N, Hp, Wp, C)``."""
    n, c, h, w = x.shape
    (hp, wp), top, left = plan.padded, plan.top, plan.left
    xp = x.new_empty(n, hp, wp, c)
    if kernels is not None and x.is_contiguous():
        kernels.to_channels_last(x, xp, top, left)
        return xp
    xp[:, :top].zero_()
    xp[:, top + h:].zero_()
    xp[:, top:top + h, :left].zero_()
    xp[:, top:top + h, left + w:].zero_()
    xp[:, top:top + h, left:left + w].copy_(x.permute(0, 2, 3, 1))
    return xp


def weight_rows(plan: Plan, weight: Tensor,
                kernels: Optional[ModuleType]) -> Tensor:
    """``W`` as ``(groups, O/groups, K*K*C/groups)``, columns ordered (tap,
    channel) like the column matrix (a view for a channels-last weight,
    else a copy: the compiled kernels' is several times faster than
    PyTorch's copy of the permuted weight)."""
    g, o = plan.groups, plan.out_channels
    if kernels is not None and weight.is_contiguous():
        return kernels.weight_rows(weight, g)
    return weight.reshape(g, o // g, *weight.shape[1:]).permute(
        0, 1, 3, 4, 2).reshape(g, o // g, -1)


def mix(plan: Plan, xp: Tensor, coef: Tensor, chunk: Chunk, out: Tensor,
        kernels: Optional[ModuleType]) -> Tensor:
    """``M = sum_k p_k * U_k`` into ``out`` (``(B, R, W_out, KH, KW, C)``);
    ``coef`` is ``probs`` in the compute dtype."""
    n0, n1, r0, r1 = chunk
    if kernels is not None:
        kernels.mix(xp, coef, plan.offsets, out, n0, r0, r1, *plan.placement)
        return out
    for k in range(coef.shape[1]):
        cols = plan.columns(xp, k, chunk)
        weight = coef[n0:n1, k, r0:r1, :, None, None, None]
        if k == 0:
            torch.mul(cols, weight, out=out)
        else:
            out.addcmul_(cols, weight)
    return out


def select(plan: Plan, xp: Tensor, index: Tensor, chunk: Chunk,
           out: Tensor) -> Tensor:
    """Each pixel's columns at its own candidate (``index``, ``(N, H_out,
    W_out)``) into ``out``: one ``index_select`` of the padded input's
    channels-last rows."""
    n0, n1, r0, r1 = chunk
    rows = (plan.window_rows(chunk)[..., None] +
            plan.tap_rows[index[n0:n1, r0:r1]])
    torch.index_select(xp.view(-1, xp.shape[-1]), 0, rows.view(-1),
                       out=out.view(-1, xp.shape[-1]))
    return out


def pixels_of(t: Tensor, chunk: Chunk) -> Tensor:
    """A chunk of an ``(N, channels, H_out, W_out)`` tensor as ``(B, R,
    W_out, channels)`` (a view)."""
    n0, n1, r0, r1 = chunk
    return t[n0:n1, :, r0:r1].permute(0, 2, 3, 1)


def pixel_matrix(t: Tensor, chunk: Chunk, buffer: Tensor) -> Tensor:
    """A chunk of an ``(N, channels, H_out, W_out)`` tensor as the matrix
    ``(pixels, channels)``: a view where the layout allows (one image, or
    channels-last), else a copy into ``buffer``."""
    part = pixels_of(t, chunk)
    size = part.shape[0] * part.shape[1] * part.shape[2]
    if part.shape[0] == 1 or part.is_contiguous():
        return part.reshape(size, part.shape[3])
    return buffer[:part.numel()].view(part.shape).copy_(part).view(size, -1)


def product(cols: Tensor, wrows: Tensor, bias: Optional[Tensor],
            taps: int, out: Tensor, scratch: Tensor) -> None:
    """``out (B, R, W_out, O) = cols W^T (+ b)`` for columns ``(P, T*C)``:
    straight into ``out`` where it is one contiguous matrix (a channels-last
    output), else through ``scratch`` (room for ``P * O`` values). Without
    groups the product is taken as ``cols W^T``: MKL's runs faster in that
    orientation at these shapes."""
    g, p = wrows.shape[0], cols.shape[0]
    if g == 1:
        target = (out.view(p, -1) if out.is_contiguous() else
                  scratch[:out.numel()].view(p, -1))
        if bias is None:
            torch.mm(cols, wrows[0].t(), out=target)
        else:
            torch.addmm(bias, cols, wrows[0].t(), out=target)
        if target.data_ptr() != out.data_ptr():
            out.copy_(target.view(out.shape))
        return
    res = torch.bmm(wrows, _group_columns(cols, taps, g).transpose(1, 2))
    res = res.view(-1, *out.shape[:3]).permute(1, 2, 3, 0)
    out.copy_(res if bias is None else res + bias)


def _group_columns(cols: Tensor, taps: int, groups: int) -> Tensor:
    """Columns ``(P, T*C)`` -> ``(g, P, T*C/g)``: each group's channels."""
    p = cols.shape[0]
    return cols.view(p, taps, groups, -1).permute(2, 0, 1, 3).reshape(
        groups, p, -1)


def columns_grad(out: Tensor, grad: Tensor, wrows: Tensor,
                 taps: int) -> None:
    """``out (P, T*C) = grad W``, the adjoint of :func:`product` in the
    columns, for ``grad (P, O)``."""
    g = wrows.shape[0]
    if g == 1:
        torch.mm(grad, wrows[0], out=out)
        return
    p = grad.shape[0]
    res = torch.bmm(grad.view(p, g, -1).transpose(0, 1), wrows)
    out.view(p, taps, g, -1).copy_(
        res.view(g, p, taps, -1).permute(1, 2, 0, 3))


def weight_grad_add(acc: Tensor, grad: Tensor, cols: Tensor,
                    taps: int) -> None:
    """``acc (g, O/g, T*C/g) += grad^T cols`` for ``grad (P, O)``, ``cols
    (P, T*C)``: the product in the operands' dtype (cuBLAS accumulates a
    half-precision product in float32), added into the float32 (or wider)
    ``acc``."""
    g = acc.shape[0]
    if grad.dtype == acc.dtype:
        if g == 1:
            acc[0].addmm_(grad.t(), cols)
        else:
            acc.baddbmm_(grad.view(-1, g, acc.shape[1]).permute(1, 2, 0),
                         _group_columns(cols, taps, g))
        return
    if g == 1:
        acc[0].add_(torch.mm(grad.t(), cols))
    else:
        acc.add_(torch.bmm(grad.view(-1, g, acc.shape[1]).permute(1, 2, 0),
                           _group_columns(cols, taps, g)))


def probs_grad(plan: Plan, xp: Tensor, gcols: Tensor, grad_p: Tensor,
               chunk: Chunk, buffer: Tensor,
               kernels: Optional[ModuleType]) -> None:
    """``grad_p_k = sum_{tap, channel} G * U_k`` of a chunk into ``grad_p``
    (``(N, D, H_out, W_out)``); ``buffer``: room for one chunk's columns."""
    n0, n1, r0, r1 = chunk
    if kernels is not None:
        kernels.probs_grad(xp, plan.offsets, gcols, grad_p, n0, r0, r1,
                           *plan.placement)
        return
    prod = plan.chunk_view(buffer, chunk)
    for k in range(grad_p.shape[1]):
        torch.mul(gcols, plan.columns(xp, k, chunk), out=prod)
        grad_p[n0:n1, k, r0:r1] = prod.flatten(3).sum(-1,
                                                      dtype=grad_p.dtype)


def fold(plan: Plan, coef: Tensor, gcols: Tensor, grad: Tensor,
         chunk: Chunk, kernels: Optional[ModuleType]) -> None:
    """``grad_x += sum_k fold_k(p_k * G)`` for a chunk. ``grad``: with the
    kernels, the unpadded channels-last ``(N, H, W, C)`` input gradient;
    else the padded one, ``(N, Hp, Wp, C)`` (taps that read padding add
    there, and are cut off afterwards)."""
    n0, n1, r0, r1 = chunk
    if kernels is not None:
        kernels.fold(coef, plan.row_offsets, plan.col_offsets, gcols, grad,
                     n0, r0, r1, *plan.stride)
        return
    kh, kw = plan.kernel
    for k in range(coef.shape[1]):
        weight = coef[n0:n1, k, r0:r1, :, None]
        for a in range(kh):
            for b in range(kw):
                plan.tap(grad, k, a, b, chunk).addcmul_(
                    gcols[:, :, :, a, b], weight)
