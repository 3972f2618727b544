"""The PAD convolution on CUDA in Triton kernels (opt-in, see
:mod:`padseg.ops.dispatch`).

An implicit GEMM: a program computes a tile of ``BLOCK_M`` output pixels by
``BLOCK_N`` output channels of one group, walking the reduction axis
``K = C/groups * KH * KW`` (ordered as the weight's own memory: channel, then
tap) in steps of ``BLOCK_K``. For each step it gathers the tile of columns

* training and soft evaluation: ``M = sum_d p_d * U_d``, each candidate's
  input samples ``U_d`` weighted by its probability, mixed in float32 in
  registers (nothing of size ``D x`` the columns is ever stored);
* argmax evaluation: each pixel's samples at its own candidate only,

and multiplies it by the shared weight's tile once (``tl.dot``, float32
accumulation). Backward recomputes the columns from the two tensors it saves,
the input and the probabilities:

* ``_pad_input_grad``: ``G = grad_out W`` tile by tile (the columns'
  gradient), then per candidate ``grad_p_d += sum_K G * U_d`` and the adjoint
  of the gather, ``grad_x[pos_d] += p_d * G`` (atomic adds, float32);
* ``_pad_weight_grad``: ``grad_W = grad_out^T M`` over all pixels.

Inputs may be float32, float16 or bfloat16; probabilities, accumulation and
the input gradient's buffer are float32. Blocks are at least 16 on every
``tl.dot`` axis, as GPUs need; depthwise layers (one channel per group) run
the same kernels with most of each tile masked, correct but not fast.

Under ``TRITON_INTERPRET=1`` the kernels run on CPU tensors (how the tests
check them); there the products of bfloat16 tiles run in float32, because
the interpreter's NumPy has no bfloat16 (its loads, stores and conversions
are checked as on the GPU).
"""
import os
from typing import Optional, Sequence

import torch
import triton
import triton.language as tl
from torch import Tensor

from .reference import Pair, pad_conv2d_reference

__all__ = ['pad_conv2d_triton', 'pad_conv2d_triton_argmax']

BLOCK_M = 32
BLOCK_N = 32
BLOCK_K = 32
_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def _samples(geom_ptr, d, n, c, oh, ow, ki, kj, m_mask, k_mask, C, H, W, sh,
             sw):
    """Where candidate ``d`` reads the tile's input samples (offsets into
    NCHW ``x``) and which of them lie inside the image."""
    dh = tl.load(geom_ptr + 4 * d)
    dw = tl.load(geom_ptr + 4 * d + 1)
    ph = tl.load(geom_ptr + 4 * d + 2)
    pw = tl.load(geom_ptr + 4 * d + 3)
    ih = oh[:, None] * sh + ki[None, :] * dh - ph
    iw = ow[:, None] * sw + kj[None, :] * dw - pw
    valid = (m_mask[:, None] & k_mask[None, :] & (ih >= 0) & (ih < H) &
             (iw >= 0) & (iw < W))
    return (n[:, None] * C + c[None, :]) * (H * W) + ih * W + iw, valid


@triton.jit
def _columns(x_ptr, probs_ptr, sel, geom_ptr, n, p, oh, ow, m_mask, rk,
             k_mask, c0, C, H, W, P, sh, sw, KH: tl.constexpr,
             KW: tl.constexpr, D: tl.constexpr, ARGMAX: tl.constexpr,
             BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """The ``[BLOCK_M, BLOCK_K]`` tile of mixed (or selected) columns, f32."""
    c = c0 + rk // (KH * KW)
    tap = rk % (KH * KW)
    ki = tap // KW
    kj = tap % KW
    a = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
    for d in tl.static_range(D):
        where, valid = _samples(geom_ptr, d, n, c, oh, ow, ki, kj, m_mask,
                                k_mask, C, H, W, sh, sw)
        if ARGMAX:
            valid = valid & (sel == d)[:, None]
        xv = tl.load(x_ptr + where, mask=valid, other=0.0).to(tl.float32)
        if ARGMAX:
            a += xv
        else:
            coef = tl.load(probs_ptr + (n * D + d) * P + p, mask=m_mask,
                           other=0.0)
            a += xv * coef[:, None]
    return a


@triton.jit
def _pad_forward(x_ptr, w_ptr, b_ptr, probs_ptr, sel_ptr, geom_ptr, out_ptr,
                 N, C, H, W, Ho, Wo, Cg, Og, sh, sw,
                 KH: tl.constexpr, KW: tl.constexpr, D: tl.constexpr,
                 HAS_BIAS: tl.constexpr, ARGMAX: tl.constexpr,
                 DOT_F32: tl.constexpr, PRECISION: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                 BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    g = tl.program_id(2)
    P = Ho * Wo
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = rm < N * P
    n_mask = rn < Og
    n = rm // P
    p = rm % P
    oh = p // Wo
    ow = p % Wo
    sel = rm * 0
    if ARGMAX:
        sel = tl.load(sel_ptr + rm, mask=m_mask, other=0)
    K = Cg * KH * KW
    o = g * Og + rn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        k_mask = rk < K
        a = _columns(x_ptr, probs_ptr, sel, geom_ptr, n, p, oh, ow, m_mask,
                     rk, k_mask, g * Cg, C, H, W, P, sh, sw, KH, KW, D,
                     ARGMAX, BLOCK_M, BLOCK_K)
        wt = tl.load(w_ptr + o[None, :] * K + rk[:, None],
                     mask=k_mask[:, None] & n_mask[None, :], other=0.0)
        if DOT_F32:
            acc += tl.dot(a, wt.to(tl.float32), input_precision=PRECISION)
        else:
            acc += tl.dot(a.to(w_ptr.dtype.element_ty), wt)
    if HAS_BIAS:
        acc += tl.load(b_ptr + o, mask=n_mask, other=0.0).to(
            tl.float32)[None, :]
    out = out_ptr + (n[:, None] * (Og * tl.num_programs(2)) + o[None, :]) * P \
        + p[:, None]
    tl.store(out, acc.to(out_ptr.dtype.element_ty),
             mask=m_mask[:, None] & n_mask[None, :])


@triton.jit
def _pad_input_grad(x_ptr, w_ptr, probs_ptr, geom_ptr, gout_ptr, gx_ptr,
                    gp_ptr, N, C, H, W, Ho, Wo, Cg, Og, sh, sw,
                    KH: tl.constexpr, KW: tl.constexpr, D: tl.constexpr,
                    NEED_X: tl.constexpr, NEED_P: tl.constexpr,
                    DOT_F32: tl.constexpr, PRECISION: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    g = tl.program_id(1)
    P = Ho * Wo
    O = Og * tl.num_programs(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = rm < N * P
    n = rm // P
    p = rm % P
    oh = p // Wo
    ow = p % Wo
    K = Cg * KH * KW
    for k0 in range(0, K, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        k_mask = rk < K
        # G = grad_out W: the columns' gradient for this tile
        grad = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
        for n0 in range(0, Og, BLOCK_N):
            rn = n0 + tl.arange(0, BLOCK_N)
            n_mask = rn < Og
            o = g * Og + rn
            go = tl.load(gout_ptr + (n[:, None] * O + o[None, :]) * P +
                         p[:, None], mask=m_mask[:, None] & n_mask[None, :],
                         other=0.0)
            wt = tl.load(w_ptr + o[:, None] * K + rk[None, :],
                         mask=n_mask[:, None] & k_mask[None, :], other=0.0)
            if DOT_F32:
                grad += tl.dot(go.to(tl.float32), wt.to(tl.float32),
                               input_precision=PRECISION)
            else:
                grad += tl.dot(go.to(w_ptr.dtype.element_ty), wt)
        c = g * Cg + rk // (KH * KW)
        tap = rk % (KH * KW)
        ki = tap // KW
        kj = tap % KW
        for d in tl.static_range(D):
            where, valid = _samples(geom_ptr, d, n, c, oh, ow, ki, kj,
                                    m_mask, k_mask, C, H, W, sh, sw)
            if NEED_P:
                xv = tl.load(x_ptr + where, mask=valid, other=0.0).to(
                    tl.float32)
                tl.atomic_add(gp_ptr + (n * D + d) * P + p,
                              tl.sum(grad * xv, axis=1), mask=m_mask)
            if NEED_X:
                coef = tl.load(probs_ptr + (n * D + d) * P + p, mask=m_mask,
                               other=0.0)
                tl.atomic_add(gx_ptr + where, grad * coef[:, None],
                              mask=valid)


@triton.jit
def _pad_weight_grad(x_ptr, probs_ptr, geom_ptr, gout_ptr, gw_ptr,
                     N, C, H, W, Ho, Wo, Cg, Og, sh, sw,
                     KH: tl.constexpr, KW: tl.constexpr, D: tl.constexpr,
                     DOT_F32: tl.constexpr, PRECISION: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_K: tl.constexpr):
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    g = tl.program_id(2)
    P = Ho * Wo
    O = Og * tl.num_programs(2)
    K = Cg * KH * KW
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    n_mask = rn < Og
    k_mask = rk < K
    o = g * Og + rn
    acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
    for m0 in range(0, N * P, BLOCK_M):
        rm = m0 + tl.arange(0, BLOCK_M)
        m_mask = rm < N * P
        n = rm // P
        p = rm % P
        a = _columns(x_ptr, probs_ptr, rm * 0, geom_ptr, n, p, p // Wo,
                     p % Wo, m_mask, rk, k_mask, g * Cg, C, H, W, P, sh, sw,
                     KH, KW, D, False, BLOCK_M, BLOCK_K)
        go = tl.load(gout_ptr + (n[None, :] * O + o[:, None]) * P +
                     p[None, :], mask=n_mask[:, None] & m_mask[None, :],
                     other=0.0)
        if DOT_F32:
            acc += tl.dot(go.to(tl.float32), a, input_precision=PRECISION)
        else:
            acc += tl.dot(go, a.to(gout_ptr.dtype.element_ty))
    tl.store(gw_ptr + o[:, None] * K + rk[None, :], acc,
             mask=n_mask[:, None] & k_mask[None, :])


def _interpreting() -> bool:
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


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
        self.paddings, self.dilations = list(paddings), list(dilations)
        self.d = len(dilations)
        self.table = torch.tensor(
            [[dh, dw, ph, pw]
             for (dh, dw), (ph, pw) in zip(dilations, paddings)],
            dtype=torch.int32, device=x.device)
        # bfloat16 products are not available to the interpreter (NumPy)
        self.dot_f32 = x.dtype == torch.float32 or (
            _interpreting() and x.dtype == torch.bfloat16)
        # float32 products as cuDNN makes them for the reference
        self.precision = ('tf32' if torch.backends.cudnn.allow_tf32
                          and x.is_cuda else 'ieee')

    @property
    def sizes(self):
        return (self.n, self.c, self.h, self.w, self.ho, self.wo, self.cg,
                self.og, *self.stride)

    @property
    def pixels(self) -> int:
        return self.n * self.ho * self.wo


def _forward(x: Tensor, weight: Tensor, bias: Optional[Tensor],
             probs: Optional[Tensor], index: Optional[Tensor],
             geo: _Geometry) -> Tensor:
    out = x.new_empty(geo.n, geo.o, geo.ho, geo.wo)
    grid = (triton.cdiv(geo.pixels, BLOCK_M), triton.cdiv(geo.og, BLOCK_N),
            geo.groups)
    argmax = index is not None
    dummy = geo.table
    _pad_forward[grid](
        x, weight, bias if bias is not None else dummy,
        probs if probs is not None else dummy,
        index if argmax else dummy, geo.table, out, *geo.sizes,
        KH=geo.kh, KW=geo.kw, D=geo.d, HAS_BIAS=bias is not None,
        ARGMAX=argmax, DOT_F32=geo.dot_f32, PRECISION=geo.precision,
        BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K)
    return out


class _PADConvTriton(torch.autograd.Function):
    """Mixed-gather implicit GEMM; backward from the input and the
    probabilities only."""

    @staticmethod
    def forward(ctx, x, weight, bias, probs, geo):
        ctx.geo = geo
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight, probs)
        return _forward(x, weight, bias, probs, None, geo)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, probs = ctx.saved_tensors
        try:
            return _backward(ctx, grad_out.contiguous().to(x.dtype), x,
                             weight, probs)
        except Exception as error:  # e.g. a kernel this GPU cannot compile
            from .dispatch import triton_failed
            triton_failed(error)
            return _reference_backward(ctx, grad_out, x, weight, probs)


def _reference_backward(ctx, grad_out, x, weight, probs):
    """The same gradients through the reference's autograd."""
    geo = ctx.geo
    inputs = [x.detach().requires_grad_(), weight.detach().requires_grad_(),
              probs.detach().requires_grad_()]
    bias = (torch.zeros(geo.o, dtype=weight.dtype, device=x.device,
                        requires_grad=True) if ctx.has_bias else None)
    with torch.enable_grad():
        out = pad_conv2d_reference(inputs[0], inputs[1], bias, inputs[2],
                                   geo.stride, geo.paddings, geo.dilations,
                                   geo.groups)
        wanted = inputs + ([bias] if bias is not None else [])
        grads = torch.autograd.grad(out, wanted, grad_out.to(out.dtype))
    grad_x, grad_w, grad_p = grads[:3]
    grad_b = grads[3] if bias is not None else None
    need_x, need_w, need_b, need_p = ctx.needs_input_grad[:4]
    return (grad_x if need_x else None, grad_w if need_w else None,
            grad_b if need_b else None, grad_p if need_p else None, None)


def _backward(ctx, grad_out, x, weight, probs):
    geo = ctx.geo
    need_x, need_w, need_b, need_p = ctx.needs_input_grad[:4]
    grad_x = grad_w = grad_b = grad_p = None
    launch = dict(KH=geo.kh, KW=geo.kw, D=geo.d, DOT_F32=geo.dot_f32,
                  PRECISION=geo.precision, BLOCK_M=BLOCK_M,
                  BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K)
    if need_x or need_p:
        gx = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
        gp = torch.zeros(probs.shape, dtype=torch.float32,
                         device=x.device)
        _pad_input_grad[(triton.cdiv(geo.pixels, BLOCK_M), geo.groups)](
            x, weight, probs, geo.table, grad_out, gx, gp, *geo.sizes,
            NEED_X=need_x, NEED_P=need_p, **launch)
        grad_x = gx.to(x.dtype) if need_x else None
        grad_p = gp.to(probs.dtype) if need_p else None
    if need_w:
        gw = torch.empty(weight.shape, dtype=torch.float32,
                         device=x.device)
        grid = (triton.cdiv(geo.og, BLOCK_N),
                triton.cdiv(geo.cg * geo.kh * geo.kw, BLOCK_K),
                geo.groups)
        _pad_weight_grad[grid](x, probs, geo.table, grad_out, gw,
                               *geo.sizes, **launch)
        grad_w = gw.to(weight.dtype)
    if need_b and ctx.has_bias:
        grad_b = grad_out.float().sum(dim=(0, 2, 3)).to(weight.dtype)
    return grad_x, grad_w, grad_b, grad_p, None


def _prepare(x: Tensor, weight: Tensor, bias: Optional[Tensor]):
    """Contiguous operands in one dtype: autocast's when it is on (as
    ``F.conv2d`` would run), else the input's."""
    device = x.device.type
    try:  # torch >= 2.4
        autocast = torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if autocast else x.dtype
    except TypeError:
        autocast = device == 'cuda' and torch.is_autocast_enabled()
        dtype = torch.get_autocast_gpu_dtype() if autocast else x.dtype
    x = x.to(dtype).contiguous()
    weight = weight.to(dtype).contiguous()
    bias = None if bias is None else bias.to(dtype).contiguous()
    return x, weight, bias


def pad_conv2d_triton(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                      probs: Tensor, stride: Pair, paddings: Sequence[Pair],
                      dilations: Sequence[Pair], groups: int) -> Tensor:
    """:func:`~padseg.ops.reference.pad_conv2d_reference` (training, soft
    evaluation) by the Triton kernels, with every gradient."""
    x, weight, bias = _prepare(x, weight, bias)
    geo = _Geometry(x, weight, tuple(probs.shape[-2:]), stride, paddings,
                    dilations, groups)
    with torch.autocast(x.device.type, enabled=False):
        return _PADConvTriton.apply(x, weight, bias,
                                    probs.float().contiguous(), geo)


def pad_conv2d_triton_argmax(x: Tensor, weight: Tensor,
                             bias: Optional[Tensor], index: Tensor,
                             stride: Pair, paddings: Sequence[Pair],
                             dilations: Sequence[Pair],
                             groups: int) -> Tensor:
    """Argmax evaluation: each pixel gathers its own candidate's samples
    (``index``, ``(N, H_out, W_out)``), one product. No autograd."""
    x, weight, bias = _prepare(x, weight, bias)
    geo = _Geometry(x, weight, tuple(index.shape[-2:]), stride, paddings,
                    dilations, groups)
    with torch.no_grad():
        return _forward(x, weight, bias, None,
                        index.to(torch.int32).contiguous(), geo)
