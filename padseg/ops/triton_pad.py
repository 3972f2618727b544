"""The PAD convolution on CUDA in Triton kernels (chosen in
:mod:`padseg.ops.dispatch`).

Implicit GEMMs on channels-last tensors: the wrapper hands the kernels the
input as ``(N, H, W, C)`` and the shared weight as ``(groups, taps, C/groups,
O/groups)``, so every load along a channel axis is contiguous; the output
comes back channels-last (an NCHW-shaped tensor in ``channels_last`` memory
format). The reduction axis is walked tap by tap, ``BLOCK_K`` channels at a
time. For each step a program gathers the tile of columns

* training and soft evaluation: ``M = sum_d p_d * U_d``, each candidate's
  input samples ``U_d`` weighted by its probability, mixed in float32 in
  registers (nothing of size ``D x`` the columns is ever stored);
* argmax evaluation: each pixel's samples at its own candidate only (the
  candidate index is read on the GPU: no host synchronisation),

and multiplies it by the weight's tile (``tl.dot``, float32 accumulation).
A program covers ``BLOCK_N`` output channels (64 or 128, by autotuning), so
the columns of a tile of pixels are gathered once per 64 or 128 output
channels, once for all of them in layers up to that width. Kernel sizes and
candidate counts are run-time values: the kernels compile once per dtype
(and argmax or not) and tile, whatever the layer's geometry.

Backward recomputes the columns from the input and the probabilities, with
no atomic operation anywhere (every gradient is deterministic):

* ``pad_input_grad``: each program owns a tile of input pixels and channels
  and gathers, per candidate and tap, the output gradient that reaches it
  (``p_d * grad_out`` at ``(i + pad_d - tap * d) / stride``): a transposed
  convolution per candidate, written once, without scattered adds;
* ``pad_prob_grad``: ``G = grad_out W^T`` tile by tile (the columns'
  gradient), then ``grad_p_d = sum_K G * U_d`` for every candidate;
* ``pad_weight_grad``: ``grad_W = grad_out^T M``, split over ``S`` slices
  of the pixels (split-K: enough programs to fill the GPU) into float32
  partial sums, added by one ``torch.sum`` (a fixed order).

Inputs may be float32 (IEEE or TF32 products, as ``cudnn.allow_tf32`` says
for the reference), float16 or bfloat16; probabilities and accumulation are
float32. Pixel offsets are 64-bit; pixel counts past ``2**31`` are refused.
Tile sizes come from a short autotune list of shapes that Hopper's matrix
instructions take (multiples of 64 by 64, 4 or 8 warps); under
``TRITON_INTERPRET=1`` (how the tests run the kernels on CPU tensors) one
small tile, and products of bfloat16 tiles in float32, because the
interpreter's NumPy has no bfloat16.
"""
import functools
from typing import Optional, Sequence

import torch
import triton
from torch import Tensor

from . import triton_kernels as kernels
from .reference import Pair, autocast_operands

__all__ = ['pad_conv2d_triton', 'pad_conv2d_triton_argmax']

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_MAX_INDEX = 2**31 - 1


@functools.lru_cache(maxsize=None)
def _multiprocessors(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


class _Geometry:
    """Sizes, candidate table and launch settings of one call."""

    def __init__(self, x: Tensor, weight: Tensor, out_size: Pair,
                 stride: Pair, paddings: Sequence[Pair],
                 dilations: Sequence[Pair], groups: int) -> None:
        if x.dtype not in _DTYPES or weight.dtype != x.dtype:
            raise TypeError(
                f'Triton PAD kernels take float32, float16 or bfloat16 '
                f'input and weight of one dtype, got {x.dtype} and '
                f'{weight.dtype}')
        self.n, self.c, self.h, self.w = x.shape
        self.o, self.cg, self.kh, self.kw = weight.shape
        self.groups = groups
        self.og = self.o // groups
        self.ho, self.wo = out_size
        self.stride = stride
        self.d = len(dilations)
        for name, count in (('input pixels', self.n * self.h * self.w),
                            ('output pixels x candidates',
                             self.n * self.ho * self.wo * self.d)):
            if count > _MAX_INDEX:
                raise ValueError(
                    f'Triton PAD kernels index {name} in 32 bits: {count} '
                    'is too many; split the batch')
        self.table = torch.tensor(
            [[dh, dw, ph, pw]
             for (dh, dw), (ph, pw) in zip(dilations, paddings)],
            dtype=torch.int32, device=x.device)
        # bfloat16 products are not available to the interpreter (NumPy)
        self.dot_f32 = x.dtype == torch.float32 or (
            kernels.interpreting() and x.dtype == torch.bfloat16)
        # float32 products as cuDNN makes them for the reference
        self.precision = ('tf32' if torch.backends.cudnn.allow_tf32
                          and x.is_cuda else 'ieee')

    @property
    def pixels(self) -> int:
        return self.n * self.ho * self.wo

    def sizes(self, first: int):
        return (first, self.c, self.h, self.w, self.ho, self.wo, self.cg,
                self.og, *self.stride)

    def constants(self):
        return dict(KH=self.kh, KW=self.kw, D=self.d, DOT_F32=self.dot_f32,
                    PRECISION=self.precision)

    def bias(self, bias: Optional[Tensor], like: Tensor) -> Tensor:
        """The bias, or zeros (one kernel for both: fewer compilations)."""
        return like.new_zeros(self.o) if bias is None else bias

    def splits(self, x: Tensor) -> int:
        """Slices of the pixels for the weight gradient: about four programs
        per multiprocessor, each slice at least 128 pixels."""
        target = 4 if kernels.interpreting() else 4 * _multiprocessors(
            x.device.index or 0)
        programs = (triton.cdiv(self.og, 64) * triton.cdiv(self.cg, 64) *
                    self.kh * self.kw * self.groups)
        return max(1, min(triton.cdiv(target, programs),
                          triton.cdiv(self.pixels, 128)))


def _channels_last(t: Tensor) -> Tensor:
    """``(N, C, H, W)`` -> contiguous ``(N, H, W, C)`` (free when ``t`` is
    channels_last already)."""
    return t.permute(0, 2, 3, 1).contiguous()


def _weight_rows(weight: Tensor, groups: int) -> Tensor:
    """``(O, C/g, KH, KW)`` -> contiguous ``(g, KH*KW, C/g, O/g)``."""
    o, cg, kh, kw = weight.shape
    return weight.view(groups, o // groups, cg, kh * kw).permute(
        0, 3, 2, 1).contiguous()


def _forward(x_cl: Tensor, w_rows: Tensor, bias: Optional[Tensor],
             probs: Optional[Tensor], index: Optional[Tensor],
             geo: _Geometry) -> Tensor:
    out = x_cl.new_empty(geo.n, geo.ho, geo.wo, geo.o)
    argmax = index is not None
    dummy = geo.table  # a pointer for the operand a variant does not read
    kernels.pad_forward[lambda meta: (triton.cdiv(geo.pixels, meta['BLOCK_M']),
                               triton.cdiv(geo.og, meta['BLOCK_N']),
                               geo.groups)](
        x_cl, w_rows, geo.bias(bias, x_cl), probs if probs is not None else
        dummy, index if argmax else dummy, geo.table, out,
        *geo.sizes(geo.pixels), ARGMAX=argmax, **geo.constants())
    return out.permute(0, 3, 1, 2)


def _backward(geo: _Geometry, needs, grad_out: Tensor, x_cl: Tensor,
              w_rows: Tensor, probs: Tensor):
    """The gradients asked for (``needs``: input, weight, bias, probs)."""
    need_x, need_w, need_b, need_p = needs
    grad_x = grad_w = grad_b = grad_p = None
    gout = _channels_last(grad_out.to(x_cl.dtype))
    if need_x:
        gx = torch.empty_like(x_cl)
        kernels.pad_input_grad[lambda meta: (
            triton.cdiv(geo.n * geo.h * geo.w, meta['BLOCK_M']),
            triton.cdiv(geo.cg, meta['BLOCK_N']), geo.groups)](
            gout, w_rows, probs, geo.table, gx,
            *geo.sizes(geo.n * geo.h * geo.w), **geo.constants())
        grad_x = gx.permute(0, 3, 1, 2)
    if need_p:
        gp = torch.empty(geo.groups, geo.pixels, geo.d, dtype=torch.float32,
                         device=x_cl.device)
        kernels.pad_prob_grad[lambda meta: (triton.cdiv(geo.pixels, meta['BLOCK_M']),
                                     geo.groups)](
            x_cl, w_rows, gout, geo.table, gp, *geo.sizes(geo.pixels),
            DP=triton.next_power_of_2(geo.d), **geo.constants())
        grad_p = gp.sum(0).view(geo.n, geo.ho, geo.wo, geo.d).permute(
            0, 3, 1, 2).contiguous()
    if need_w:
        splits = geo.splits(x_cl)
        chunk = triton.cdiv(triton.cdiv(geo.pixels, splits), 128) * 128
        splits = triton.cdiv(geo.pixels, chunk)
        partial = torch.empty(splits, *w_rows.shape, dtype=torch.float32,
                              device=x_cl.device)
        kernels.pad_weight_grad[lambda meta: (
            triton.cdiv(geo.og, meta['BLOCK_N']),
            geo.kh * geo.kw * triton.cdiv(geo.cg, meta['BLOCK_K']),
            geo.groups * splits)](
            x_cl, probs, geo.table, gout, partial, *geo.sizes(geo.pixels),
            splits, chunk, **geo.constants())
        rows = partial.sum(0)  # (g, taps, C/g, O/g), summed in a fixed order
        grad_w = rows.permute(0, 3, 2, 1).reshape(
            geo.o, geo.cg, geo.kh, geo.kw).to(w_rows.dtype)
    if need_b:
        grad_b = gout.view(-1, geo.o).float().sum(0).to(w_rows.dtype)
    return grad_x, grad_w, grad_b, grad_p


class _PADConvTriton(torch.autograd.Function):
    """Mixed-gather implicit GEMM; backward from the input and the
    probabilities only. ``on_error(error)`` is called when the backward
    kernels fail; what it returns (the reference's gradients, or it
    raises) is used instead."""

    @staticmethod
    def forward(ctx, x, weight, bias, probs, geo, on_error):
        ctx.geo, ctx.on_error = geo, on_error
        ctx.has_bias = bias is not None
        x_cl, w_rows = _channels_last(x), _weight_rows(weight, geo.groups)
        ctx.save_for_backward(x_cl, w_rows, probs)
        return _forward(x_cl, w_rows, bias, probs, None, geo)

    @staticmethod
    def backward(ctx, grad_out):
        x_cl, w_rows, probs = ctx.saved_tensors
        geo = ctx.geo
        needs = list(ctx.needs_input_grad[:4])
        needs[2] = needs[2] and ctx.has_bias
        try:
            grads = _backward(geo, needs, grad_out, x_cl, w_rows, probs)
        except Exception as error:  # e.g. a kernel this GPU cannot compile
            weight = w_rows.permute(0, 3, 2, 1).reshape(geo.o, geo.cg,
                                                        geo.kh, geo.kw)
            grads = ctx.on_error(error, grad_out, x_cl.permute(0, 3, 1, 2),
                                 weight, ctx.has_bias, probs, needs)
        return (*grads, None, None)


def _raise(error, *args):
    raise error


def pad_conv2d_triton(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                      probs: Tensor, stride: Pair, paddings: Sequence[Pair],
                      dilations: Sequence[Pair], groups: int,
                      on_error=_raise) -> Tensor:
    """:func:`~padseg.ops.reference.pad_conv2d_reference` (training, soft
    evaluation) by the Triton kernels, with every gradient. The output is
    channels-last in memory. ``on_error(error, grad_out, x, weight, has_bias,
    probs, needs)`` gives the gradients when the backward kernels fail
    (default: raise the error)."""
    x, weight, bias = autocast_operands(x, weight, bias)
    geo = _Geometry(x, weight, tuple(probs.shape[-2:]), stride, paddings,
                    dilations, groups)
    with torch.autocast(x.device.type, enabled=False):
        return _PADConvTriton.apply(x, weight, bias,
                                    probs.float().contiguous(), geo,
                                    on_error)


def pad_conv2d_triton_argmax(x: Tensor, weight: Tensor,
                             bias: Optional[Tensor], index: Tensor,
                             stride: Pair, paddings: Sequence[Pair],
                             dilations: Sequence[Pair],
                             groups: int) -> Tensor:
    """Argmax evaluation: each pixel gathers its own candidate's samples
    (``index``, ``(N, H_out, W_out)``), one product, no host
    synchronisation. No autograd; the output is channels-last in memory."""
    x, weight, bias = autocast_operands(x, weight, bias)
    geo = _Geometry(x, weight, tuple(index.shape[-2:]), stride, paddings,
                    dilations, groups)
    with torch.no_grad():
        return _forward(_channels_last(x), _weight_rows(weight, groups), bias,
                        None, index.to(torch.int32).contiguous(), geo)
