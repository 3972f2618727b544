"""The Triton kernels of the PAD convolution and their tile lists; called
by :mod:`padseg.ops.triton_pad`, whose docstring gives the design.

Layouts: the input ``x`` as ``(N*H*W, C)`` rows (channels-last), the weight
as ``(groups, KH*KW, C/groups, O/groups)``, the output and its gradient as
``(N*H_out*W_out, O)`` rows, the probabilities ``(N, D, H_out*W_out)``
float32, the candidate table ``(D, 4)`` int32 rows ``(dh, dw, ph, pw)``.
"""
import os

import triton
import triton.language as tl
import triton.testing

__all__ = ['pad_forward', 'pad_input_grad', 'pad_prob_grad',
           'pad_weight_grad', 'tile_configs', 'interpreting']


def interpreting() -> bool:
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


def tile_configs(kernel: str):
    """The autotune list of a kernel: ``(BLOCK_M, BLOCK_N, BLOCK_K)`` with
    warps and pipeline stages; one small tile under the interpreter."""
    if interpreting():
        sizes = [(32, 32, 16, 4, 1)]
    elif kernel == 'weight':  # [BLOCK_N out, BLOCK_K in] += [BN, M] [M, BK]
        sizes = [(64, 128, 64, 8, 3), (128, 64, 64, 4, 3)]
    else:
        sizes = [(128, 128, 64, 8, 3), (128, 64, 64, 4, 3),
                 (64, 128, 64, 4, 3)]
    return [triton.Config(dict(BLOCK_M=m, BLOCK_N=n, BLOCK_K=k),
                          num_warps=w, num_stages=s)
            for m, n, k, w, s in sizes]


def _bench(kernel_call, quantiles):
    """Autotuning's timing of one tile: short (5 ms warm-up, 20 ms of
    repeats), since every new layer shape times every tile once."""
    return triton.testing.do_bench(kernel_call, warmup=5, rep=20,
                                   quantiles=quantiles)


@triton.jit
def _dot(acc, a, b, DOT_F32: tl.constexpr, PRECISION: tl.constexpr):
    if DOT_F32:
        return acc + tl.dot(a.to(tl.float32), b.to(tl.float32),
                            input_precision=PRECISION)
    return acc + tl.dot(a, b)


@triton.jit
def _candidate_rows(table_ptr, d, n, oh, ow, ki, kj, m_mask, H, W, sh, sw):
    """The input pixel (row of the ``(N*H*W, C)`` input, 64-bit) that
    output pixel ``(n, oh, ow)`` reads at tap ``(ki, kj)`` of candidate
    ``d``, and whether it lies inside the image."""
    dh = tl.load(table_ptr + 4 * d)
    dw = tl.load(table_ptr + 4 * d + 1)
    ph = tl.load(table_ptr + 4 * d + 2)
    pw = tl.load(table_ptr + 4 * d + 3)
    ih = oh * sh + ki * dh - ph
    iw = ow * sw + kj * dw - pw
    inside = m_mask & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
    return (n.to(tl.int64) * H + ih) * W + iw, inside


@triton.jit
def _columns(x_ptr, probs_ptr, sel, table_ptr, n, pix, oh, ow, m_mask, ki,
             kj, chan, c_mask, C, H, W, P, sh, sw, D,
             ARGMAX: tl.constexpr, BLOCK_M: tl.constexpr,
             BLOCK_K: tl.constexpr):
    """The ``[BLOCK_M, BLOCK_K]`` tile of mixed (or selected) columns at one
    tap, float32."""
    a = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
    for d in range(D):
        row, inside = _candidate_rows(table_ptr, d, n, oh, ow, ki, kj,
                                      m_mask, H, W, sh, sw)
        if ARGMAX:
            inside = inside & (sel == d)
        xv = tl.load(x_ptr + row[:, None] * C + chan[None, :],
                     mask=inside[:, None] & c_mask[None, :],
                     other=0.0).to(tl.float32)
        if ARGMAX:
            a += xv
        else:
            coef = tl.load(probs_ptr + (n * D + d) * P + pix, mask=m_mask,
                           other=0.0)
            a += xv * coef[:, None]
    return a


@triton.autotune(configs=tile_configs('forward'), key=['NP', 'Cg', 'Og'],
                 do_bench=_bench)
@triton.jit
def pad_forward(x_ptr, w_ptr, b_ptr, probs_ptr, sel_ptr, table_ptr, out_ptr,
                NP, C, H, W, Ho, Wo, Cg, Og, sh, sw, KH, KW, D,
                ARGMAX: tl.constexpr,
                DOT_F32: tl.constexpr, PRECISION: tl.constexpr,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    g = tl.program_id(2)
    P = Ho * Wo
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = rm < NP
    n_mask = rn < Og
    n = rm // P
    pix = rm % P
    oh = pix // Wo
    ow = pix % Wo
    sel = rm * 0
    if ARGMAX:
        sel = tl.load(sel_ptr + rm, mask=m_mask, other=0)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for tap in range(KH * KW):
        ki = tap // KW
        kj = tap % KW
        for c0 in range(0, Cg, BLOCK_K):
            rc = c0 + tl.arange(0, BLOCK_K)
            c_mask = rc < Cg
            a = _columns(x_ptr, probs_ptr, sel, table_ptr, n, pix, oh, ow,
                         m_mask, ki, kj, g * Cg + rc, c_mask, C, H, W, P, sh,
                         sw, D, ARGMAX, BLOCK_M, BLOCK_K)
            wt = tl.load(w_ptr + ((g * KH * KW + tap) * Cg + rc[:, None]) *
                         Og + rn[None, :],
                         mask=c_mask[:, None] & n_mask[None, :], other=0.0)
            acc = _dot(acc, a.to(w_ptr.dtype.element_ty), wt, DOT_F32,
                       PRECISION)
    o = g * Og + rn
    acc += tl.load(b_ptr + o, mask=n_mask, other=0.0).to(tl.float32)[None, :]
    O = Og * tl.num_programs(2)
    tl.store(out_ptr + rm.to(tl.int64)[:, None] * O + o[None, :],
             acc.to(out_ptr.dtype.element_ty),
             mask=m_mask[:, None] & n_mask[None, :])


@triton.autotune(configs=tile_configs('input'), key=['NPIX', 'Cg', 'Og'],
                 do_bench=_bench)
@triton.jit
def pad_input_grad(gout_ptr, w_ptr, probs_ptr, table_ptr, gx_ptr,
                   NPIX, C, H, W, Ho, Wo, Cg, Og, sh, sw, KH, KW, D,
                   DOT_F32: tl.constexpr, PRECISION: tl.constexpr,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                   BLOCK_K: tl.constexpr):
    """``BLOCK_M`` input pixels by ``BLOCK_N`` input channels of one group;
    the reduction runs over candidates, taps and ``BLOCK_K`` output
    channels at a time."""
    pid_m = tl.program_id(0)
    pid_c = tl.program_id(1)
    g = tl.program_id(2)
    P = Ho * Wo
    O = Og * tl.num_programs(2)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rc = pid_c * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = rm < NPIX
    c_mask = rc < Cg
    n = rm // (H * W)
    q = rm % (H * W)
    ih = q // W
    iw = q % W
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for d in range(D):
        dh = tl.load(table_ptr + 4 * d)
        dw = tl.load(table_ptr + 4 * d + 1)
        ph = tl.load(table_ptr + 4 * d + 2)
        pw = tl.load(table_ptr + 4 * d + 3)
        for tap in range(KH * KW):
            th = ih + ph - (tap // KW) * dh
            tw = iw + pw - (tap % KW) * dw
            oh = th // sh
            ow = tw // sw
            # the output pixels whose window reads this input pixel here
            ok = (m_mask & (th >= 0) & (tw >= 0) & (oh * sh == th) &
                  (ow * sw == tw) & (oh < Ho) & (ow < Wo))
            opix = oh * Wo + ow
            coef = tl.load(probs_ptr + (n * D + d) * P + opix, mask=ok,
                           other=0.0)
            orow = (n.to(tl.int64) * P + opix) * O + g * Og
            for o0 in range(0, Og, BLOCK_K):
                ro = o0 + tl.arange(0, BLOCK_K)
                o_mask = ro < Og
                go = tl.load(gout_ptr + orow[:, None] + ro[None, :],
                             mask=ok[:, None] & o_mask[None, :],
                             other=0.0).to(tl.float32) * coef[:, None]
                wt = tl.load(w_ptr + ((g * KH * KW + tap) * Cg +
                                      rc[None, :]) * Og + ro[:, None],
                             mask=o_mask[:, None] & c_mask[None, :],
                             other=0.0)
                acc = _dot(acc, go.to(w_ptr.dtype.element_ty), wt, DOT_F32,
                           PRECISION)
    tl.store(gx_ptr + rm.to(tl.int64)[:, None] * C + (g * Cg + rc)[None, :],
             acc.to(gx_ptr.dtype.element_ty),
             mask=m_mask[:, None] & c_mask[None, :])


@triton.autotune(configs=tile_configs('prob'), key=['NP', 'Cg', 'Og'],
                 do_bench=_bench)
@triton.jit
def pad_prob_grad(x_ptr, w_ptr, gout_ptr, table_ptr, gp_ptr,
                  NP, C, H, W, Ho, Wo, Cg, Og, sh, sw, KH, KW, D,
                  DP: tl.constexpr, DOT_F32: tl.constexpr,
                  PRECISION: tl.constexpr, BLOCK_M: tl.constexpr,
                  BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """Per group: ``grad_p[g, pixel, d] = sum_K (grad_out W^T) * U_d``."""
    pid_m = tl.program_id(0)
    g = tl.program_id(1)
    P = Ho * Wo
    O = Og * tl.num_programs(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = rm < NP
    n = rm // P
    pix = rm % P
    oh = pix // Wo
    ow = pix % Wo
    orow = rm.to(tl.int64) * O + g * Og
    dcol = tl.arange(0, DP)
    acc = tl.zeros((BLOCK_M, DP), dtype=tl.float32)
    for tap in range(KH * KW):
        ki = tap // KW
        kj = tap % KW
        for c0 in range(0, Cg, BLOCK_K):
            rc = c0 + tl.arange(0, BLOCK_K)
            c_mask = rc < Cg
            grad = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
            for o0 in range(0, Og, BLOCK_N):
                ro = o0 + tl.arange(0, BLOCK_N)
                o_mask = ro < Og
                go = tl.load(gout_ptr + orow[:, None] + ro[None, :],
                             mask=m_mask[:, None] & o_mask[None, :],
                             other=0.0)
                wt = tl.load(w_ptr + ((g * KH * KW + tap) * Cg +
                                      rc[None, :]) * Og + ro[:, None],
                             mask=o_mask[:, None] & c_mask[None, :],
                             other=0.0)
                grad = _dot(grad, go, wt, DOT_F32, PRECISION)
            for d in range(D):
                row, inside = _candidate_rows(table_ptr, d, n, oh, ow, ki,
                                              kj, m_mask, H, W, sh, sw)
                xv = tl.load(x_ptr + row[:, None] * C + (g * Cg + rc)[None, :],
                             mask=inside[:, None] & c_mask[None, :],
                             other=0.0).to(tl.float32)
                part = tl.sum(grad * xv, axis=1)
                acc += tl.where(dcol[None, :] == d, part[:, None], 0.0)
    tl.store(gp_ptr + (g * NP + rm.to(tl.int64))[:, None] * D + dcol[None, :],
             acc, mask=m_mask[:, None] & (dcol < D)[None, :])


@triton.autotune(configs=tile_configs('weight'), key=['NP', 'Cg', 'Og'],
                 do_bench=_bench)
@triton.jit
def pad_weight_grad(x_ptr, probs_ptr, table_ptr, gout_ptr, gw_ptr,
                    NP, C, H, W, Ho, Wo, Cg, Og, sh, sw, SPLITS, CHUNK, KH,
                    KW, D, DOT_F32: tl.constexpr, PRECISION: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    BLOCK_K: tl.constexpr):
    """Slice ``s`` of the pixels: ``partial[s, g, tap, c, o] = sum over its
    pixels of grad_out[., o] * M[., tap, c]``."""
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    g = tl.program_id(2) // SPLITS
    s = tl.program_id(2) % SPLITS
    G = C // Cg
    O = Og * G
    P = Ho * Wo
    c_tiles = tl.cdiv(Cg, BLOCK_K)
    tap = pid_k // c_tiles
    ki = tap // KW
    kj = tap % KW
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rc = (pid_k % c_tiles) * BLOCK_K + tl.arange(0, BLOCK_K)
    n_mask = rn < Og
    c_mask = rc < Cg
    start = s * CHUNK
    end = tl.minimum(start + CHUNK, NP)
    acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
    for m0 in range(start, end, BLOCK_M):
        rm = m0 + tl.arange(0, BLOCK_M)
        m_mask = rm < end
        n = rm // P
        pix = rm % P
        a = _columns(x_ptr, probs_ptr, rm * 0, table_ptr, n, pix, pix // Wo,
                     pix % Wo, m_mask, ki, kj, g * Cg + rc, c_mask, C, H, W,
                     P, sh, sw, D, False, BLOCK_M, BLOCK_K)
        go = tl.load(gout_ptr + rm.to(tl.int64)[None, :] * O +
                     (g * Og + rn)[:, None],
                     mask=n_mask[:, None] & m_mask[None, :], other=0.0)
        acc = _dot(acc, go, a.to(gout_ptr.dtype.element_ty), DOT_F32,
                   PRECISION)
    tl.store(gw_ptr + (((s * G + g) * KH * KW + tap) * Cg + rc[None, :]) *
             Og + rn[:, None], acc,
             mask=n_mask[:, None] & c_mask[None, :])
