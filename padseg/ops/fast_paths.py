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
operations above. Both give the same results. The geometry, the buffers
and the shared matrix products are :mod:`padseg.ops.fast_plan`'s.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .fast_plan import (Plan, columns_grad_into, matmul_into,
                        rows_of, weight_grad_add)
from .reference import Pair

__all__ = ['pad_conv2d_columns', 'pad_conv2d_gather']

#: Argmax evaluation with the compiled kernels: each thread multiplies
#: blocks of about this many bytes of columns, or this many output pixels if
#: that is more, on its own (see ``gather_conv`` in csrc/pad_columns.cpp).
_GATHER_BLOCK_BYTES = 1 << 20
_GATHER_BLOCK_PIXELS = 256


def _forward_columns(plan: Plan, xp: Tensor, wrows: Tensor,
                     bias: Optional[Tensor], coef: Tensor) -> Tensor:
    out = xp.new_empty(plan.batch, plan.out_channels, *plan.out_size)
    buffer = plan.buffer(xp, plan.taps * plan.in_channels)
    scratch = plan.buffer(xp, plan.out_channels)
    for n, r0, r1 in plan.chunks():
        cols = plan.mix(xp, coef, n, r0, r1, plan.chunk(buffer, r0, r1))
        matmul_into(rows_of(out, n, r0, r1),
                     cols.view((r1 - r0) * plan.out_size[1], -1), wrows,
                     bias, plan.taps, scratch)
    return out


def _prepare(plan: Plan, x: Tensor, weight: Tensor, bias: Optional[Tensor],
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
            grad = rows_of(grad_out, n, r0, r1, grad_buffer)
            if need_w:
                cols = plan.mix(xp, coef, n, r0, r1,
                                plan.chunk(buffer, r0, r1))
                weight_grad_add(grad_w, grad, cols.view(grad.shape[1], -1),
                                 plan.taps)
            if not (need_x or need_p):
                continue
            gcols = plan.chunk(gbuffer, r0, r1)
            columns_grad_into(gcols.view(grad.shape[1], -1), grad, wrows,
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
                       dilations: Sequence[Pair], groups: int,
                       autograd: bool = True) -> Tensor:
    """PAD convolution for any ``probs`` (soft, straight-through, one-hot);
    the arguments and result of
    :func:`padseg.ops.reference.pad_conv2d_reference`, with every gradient
    when ``autograd`` (else nothing is kept for a backward pass)."""
    plan = Plan.of(x, weight, tuple(probs.shape[-2:]), stride, paddings,
                    dilations, groups)
    if autograd:
        return _PADConvColumns.apply(x, weight, bias, probs, plan)
    return _forward_columns(plan, *_prepare(plan, x, weight, bias, probs))


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
    plan = Plan.of(x, weight, tuple(index.shape[-2:]), stride, paddings,
                    dilations, groups, bounded_by_input=False)
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
        matmul_into(rows_of(out, n, r0, r1), cols.view((r1 - r0) * wo, -1),
                     wrows, bias, plan.taps, scratch)
    return out
