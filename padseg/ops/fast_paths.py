"""The columns paths: the PAD convolution at one convolution's matrix work.

:func:`padseg.ops.reference.pad_conv2d_reference` runs one full convolution
per candidate dilation and mixes them per pixel: ``D`` times the work of a
plain convolution, forward and backward. One weight serves every candidate,
so ``y = W (sum_k p_k * U_k)^T + b``, where row ``p`` of ``U_k`` holds the
``K*K*C`` input values that output pixel ``p`` reads at dilation ``d_k``:

* forward: the candidates are mixed in the columns (``M = sum_k p_k *
  U_k``), then one matrix product; with one candidate per pixel (argmax
  evaluation, and the hard straight-through step, whose values are one-hot)
  each pixel's columns are selected at its own dilation instead (one
  gather), then one product;
* backward, with the columns recomputed rather than saved and ``G = grad_out
  W`` (the columns' gradient, one product): ``grad_W = grad_out^T M`` (one
  product), ``grad_p_k = sum_{tap, channel} G * U_k`` and ``grad_x = sum_k
  fold_k(p_k * G)`` (memory passes, no product). No per-candidate output is
  formed.

The work runs in chunks of the output (:mod:`padseg.ops.fast_plan`): whole
images while their columns fit a budget (a few MB on the CPU, 256 MB on a
GPU), else rows of one image; the passes over a chunk are
:mod:`padseg.ops.column_ops`'s, in the compiled CPU kernels of
:mod:`padseg.ops.compiled` where they exist (float32 and float64 on the
CPU), else in PyTorch operations on any device (cuBLAS products on a GPU).
Both give the same results. Operands arrive in the dtype to compute in
(:mod:`padseg.ops.dispatch` applies autocast); accumulations (weight and
probability gradients, and the input gradient's fold in PyTorch operations)
are float32 or wider. The output, and the input's gradient, are
channels-last in memory where the input is.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import column_ops as ops
from . import compiled
from .fast_plan import Plan
from .geometry import Pair

__all__ = ['pad_conv2d_columns', 'pad_conv2d_gather']

#: Argmax evaluation with the compiled kernels: each thread multiplies
#: blocks of about this many bytes of columns, or this many output pixels if
#: that is more, on its own (see ``gather_conv`` in csrc/pad_columns.cpp).
_GATHER_BLOCK_BYTES = 1 << 20
_GATHER_BLOCK_PIXELS = 256


def _kernels(x: Tensor):
    return compiled.kernels(x.dtype) if x.device.type == 'cpu' else None


def _channels_last(x: Tensor) -> bool:
    return (x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous())


def _like(bias: Optional[Tensor], x: Tensor) -> Optional[Tensor]:
    return None if bias is None else bias.to(x.dtype)


def _new_output(plan: Plan, like: Tensor, channels_last: bool) -> Tensor:
    n, (ho, wo), o = plan.batch, plan.out_size, plan.out_channels
    if channels_last:
        return like.new_empty(n, ho, wo, o).permute(0, 3, 1, 2)
    return like.new_empty(n, o, ho, wo)


def _columns(plan: Plan, xp: Tensor, coef: Tensor, index: Optional[Tensor],
             chunk, buffer: Tensor, kernels) -> Tensor:
    """A chunk's columns: selected at each pixel's candidate (``index``, in
    PyTorch operations) or mixed by ``coef``."""
    out = plan.chunk_view(buffer, chunk)
    if index is not None and kernels is None:
        return ops.select(plan, xp, index, chunk, out)
    return ops.mix(plan, xp, coef, chunk, out, kernels)


def _forward(plan: Plan, xp: Tensor, wrows: Tensor, bias: Optional[Tensor],
             coef: Tensor, index: Optional[Tensor], kernels,
             channels_last: bool) -> Tensor:
    out = _new_output(plan, xp, channels_last)
    buffer = plan.buffer(xp, plan.taps * plan.in_channels)
    scratch = plan.buffer(xp, plan.out_channels)
    for chunk in plan.chunks():
        cols = _columns(plan, xp, coef, index, chunk, buffer, kernels)
        ops.product(cols.view(plan.pixels(chunk), -1), wrows, bias,
                    plan.taps, ops.pixels_of(out, chunk), scratch)
    return out


class _PADConvColumns(torch.autograd.Function):
    """PAD convolution by mixed (or selected) columns; backward recomputes
    the columns from the padded input."""

    @staticmethod
    def forward(ctx, x, weight, bias, probs, index, plan):
        kernels = _kernels(x)
        xp = ops.pad_input(plan, x, kernels)
        coef = probs.to(x.dtype).contiguous()
        ctx.plan, ctx.index, ctx.kernels = plan, index, kernels
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.probs_dtype = probs.dtype
        ctx.channels_last = _channels_last(x)
        # The padded input is kept; W's (tap, channel) copy is made again in
        # backward, where its memory then takes the weight gradient.
        ctx.save_for_backward(xp, weight, coef)
        return _forward(plan, xp, ops.weight_rows(plan, weight, kernels),
                        _like(bias, x), coef, index, kernels,
                        ctx.channels_last)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        xp, weight, coef = ctx.saved_tensors
        plan, index, kernels = ctx.plan, ctx.index, ctx.kernels
        wrows = ops.weight_rows(plan, weight, kernels)
        need_x, need_w, need_b, need_p = ctx.needs_input_grad[:4]
        dtype, device = xp.dtype, xp.device
        acc_dtype = torch.promote_types(dtype, torch.float32)
        grad_out = grad_out.to(dtype)
        width = plan.taps * plan.in_channels
        grad_buffer = plan.buffer(xp, plan.out_channels)
        buffer = plan.buffer(xp, width) if need_w or need_p else None
        gbuffer = plan.buffer(xp, width) if need_x or need_p else None
        (h, w), c = plan.in_size, plan.in_channels
        if need_x and kernels is not None:  # channels-last, unpadded
            grad_x = xp.new_zeros(plan.batch, h, w, c)
        elif need_x:  # channels-last and padded, like xp
            grad_x = torch.zeros(xp.shape, dtype=acc_dtype, device=device)
        grad_w = (torch.zeros(wrows.shape, dtype=acc_dtype, device=device)
                  if need_w else None)
        grad_p = (torch.empty(coef.shape, dtype=acc_dtype, device=device)
                  if need_p else None)
        for chunk in plan.chunks():
            grad = ops.pixel_matrix(grad_out, chunk, grad_buffer)
            if need_w:
                cols = _columns(plan, xp, coef, index, chunk, buffer,
                                kernels)
                ops.weight_grad_add(grad_w, grad, cols.view(grad.shape[0],
                                                            -1), plan.taps)
            if not (need_x or need_p):
                continue
            gcols = plan.chunk_view(gbuffer, chunk)
            ops.columns_grad(gcols.view(grad.shape[0], -1), grad, wrows,
                             plan.taps)
            if need_p:
                ops.probs_grad(plan, xp, gcols, grad_p, chunk, buffer,
                               kernels)
            if need_x:
                ops.fold(plan, coef, gcols, grad_x, chunk, kernels)
        del buffer, gbuffer, grad_buffer
        if need_x:
            if kernels is None:  # cut the padding off
                grad_x = grad_x[:, plan.top:plan.top + h,
                                plan.left:plan.left + w].to(dtype)
                grad_x = grad_x.contiguous()  # NHWC
            grad_x = grad_x.permute(0, 3, 1, 2)
            if not ctx.channels_last:
                grad_x = grad_x.contiguous()
        else:
            grad_x = None
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
        grad_b = (grad_out.sum((0, 2, 3), dtype=acc_dtype).to(ctx.bias_dtype)
                  if need_b and ctx.bias_dtype is not None else None)
        if need_p:
            grad_p = grad_p.to(ctx.probs_dtype)
        return grad_x, grad_w, grad_b, grad_p, None, None


def pad_conv2d_columns(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                       probs: Tensor, stride: Pair, paddings: Sequence[Pair],
                       dilations: Sequence[Pair], groups: int,
                       autograd: bool = True,
                       index: Optional[Tensor] = None) -> Tensor:
    """PAD convolution for any ``probs`` (soft, straight-through, one-hot);
    the arguments and result of
    :func:`padseg.ops.reference.pad_conv2d_reference`, with every gradient
    when ``autograd`` (else nothing is kept for a backward pass).

    ``index`` (``(N, H_out, W_out)``): the candidate of each pixel where
    ``probs``' values are its one-hot (a hard straight-through step): the
    forward pass then selects each pixel's columns instead of mixing all
    ``D`` (gradients still reach ``probs``)."""
    plan = Plan.of(x, weight, tuple(probs.shape[-2:]), stride, paddings,
                   dilations, groups, per_image=_kernels(x) is not None)
    if index is not None:
        index = index.to(torch.int64)
    if autograd:
        return _PADConvColumns.apply(x, weight, bias, probs, index, plan)
    kernels = _kernels(x)
    return _forward(plan, ops.pad_input(plan, x, kernels),
                    ops.weight_rows(plan, weight, kernels), _like(bias, x),
                    probs.to(x.dtype).contiguous(), index, kernels,
                    _channels_last(x))


def pad_conv2d_gather(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                      index: Tensor, stride: Pair, paddings: Sequence[Pair],
                      dilations: Sequence[Pair], groups: int) -> Tensor:
    """PAD convolution with one candidate per pixel (``index``, ``(N, H_out,
    W_out)``, as for one-hot ``probs``): each pixel's columns are gathered at
    its own dilation, then multiplied by the weight once. No autograd.

    The compiled kernels run it in one call, each thread on its own blocks of
    output rows; in PyTorch operations the chunks go one after another, each
    one gather of the padded channels-last input and one product."""
    kernels = _kernels(x)
    plan = Plan.of(x, weight, tuple(index.shape[-2:]), stride, paddings,
                   dilations, groups, bounded_by_input=False,
                   per_image=kernels is not None)
    wrows = ops.weight_rows(plan, weight, kernels)
    index = index.to(torch.int64)
    if kernels is not None:
        pixels = max(_GATHER_BLOCK_PIXELS, _GATHER_BLOCK_BYTES //
                     (plan.taps * plan.in_channels * x.element_size()))
        return kernels.gather_conv(
            ops.pad_input(plan, x, kernels), index[:, None].contiguous(),
            plan.offsets, wrows.contiguous(), _like(bias, x), pixels,
            *plan.placement)
    probs = x.new_empty(0)  # not read: every chunk is selected by index
    return _forward(plan, ops.pad_input(plan, x, None), wrows,
                    _like(bias, x), probs, index, None, _channels_last(x))
