// Compiled kernels of the PAD columns path (padseg/ops/fast_paths.py).
//
// Each runs on one chunk of one image: output rows [r0, r1) of image n. The
// input `xp` is zero-padded and channels-last, (N, Hp, Wp, C); output pixel
// (i, j) of candidate k reads, at tap t, the C values that start at
// `base(i, j) + offsets[k][t]` with
// base(i, j) = ((n * Hp + top + i * sh) * Wp + left + j * sw) * C.
// The columns of the chunk are (P, T, C), P = (r1 - r0) * Wo pixels.
//
// The PyTorch path computes the same with one strided pass per candidate
// (and per candidate again for each gradient); these fuse the candidates
// into one pass, vectorised over channels. The input's copy into the padded
// channels-last layout is tiled.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

struct Chunk {
  int64_t n, r0, r1, sh, sw, top, left;

  // Where pixel p of the chunk (output row r0 + p / wo) starts reading in
  // the padded input (N, hp, wp, c): base(i, j) above.
  int64_t base(int64_t p, int64_t wo, int64_t hp, int64_t wp,
               int64_t c) const {
    return ((n * hp + top + (r0 + p / wo) * sh) * wp + left + p % wo * sw) *
           c;
  }
};

void check_chunk(const torch::Tensor& xp, const torch::Tensor& per_pixel,
                 const torch::Tensor& columns, const Chunk& chunk) {
  TORCH_CHECK(xp.dim() == 4 && xp.is_contiguous() && xp.device().is_cpu(),
              "padded input: contiguous (N, Hp, Wp, C) CPU tensor expected");
  TORCH_CHECK(per_pixel.dim() == 4 && per_pixel.is_contiguous() &&
                  per_pixel.size(0) == xp.size(0),
              "probabilities or index: contiguous (N, D, Ho, Wo) expected");
  TORCH_CHECK(columns.is_contiguous() && columns.scalar_type() ==
                  xp.scalar_type(),
              "columns: contiguous, of the padded input's dtype");
  TORCH_CHECK(chunk.n >= 0 && chunk.n < xp.size(0) && chunk.r0 >= 0 &&
                  chunk.r0 < chunk.r1 && chunk.r1 <= per_pixel.size(2),
              "chunk outside the output");
}

// The transposed copy goes in tiles of this many values a side, so that both
// the rows read and the rows written stay in cache (PyTorch's strided copy of
// the permuted input took twice as long here).
constexpr int64_t kTile = 16;

// x (N, C, H, W) -> xp (N, Hp, Wp, C): x at (top, left), zeros around it.
template <typename scalar_t>
void channels_last_kernel(const torch::Tensor& x_t, torch::Tensor& xp_t,
                          int64_t top, int64_t left) {
  const int64_t c = x_t.size(1), h = x_t.size(2), w = x_t.size(3);
  const int64_t hp = xp_t.size(1), wp = xp_t.size(2);
  const scalar_t* x = x_t.data_ptr<scalar_t>();
  scalar_t* xp = xp_t.data_ptr<scalar_t>();
  at::parallel_for(0, xp_t.size(0) * hp, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / hp, y = r % hp - top;
      scalar_t* row = xp + r * wp * c;
      if (y < 0 || y >= h) {
        std::fill_n(row, wp * c, scalar_t(0));
        continue;
      }
      std::fill_n(row, left * c, scalar_t(0));
      std::fill_n(row + (left + w) * c, (wp - left - w) * c, scalar_t(0));
      const scalar_t* src = x + (n * c * h + y) * w;  // channel 0, row y
      for (int64_t c0 = 0; c0 < c; c0 += kTile) {
        const int64_t c1 = std::min(c, c0 + kTile);
        for (int64_t x0 = 0; x0 < w; x0 += kTile) {
          const int64_t x1 = std::min(w, x0 + kTile);
          for (int64_t j = x0; j < x1; ++j) {
            scalar_t* dst = row + (left + j) * c;
            for (int64_t q = c0; q < c1; ++q) dst[q] = src[q * h * w + j];
          }
        }
      }
    }
  });
}

// out[p, t, :] = sum_k probs[n, k, i, j] * xp[base + offsets[k, t] : +C]
template <typename scalar_t>
void mix_kernel(const torch::Tensor& xp_t, const torch::Tensor& probs_t,
                const torch::Tensor& offsets_t, torch::Tensor& out_t,
                const Chunk& ch) {
  const int64_t hp = xp_t.size(1), wp = xp_t.size(2), c = xp_t.size(3);
  const int64_t d = probs_t.size(1), ho = probs_t.size(2),
                wo = probs_t.size(3), taps = offsets_t.size(1);
  const scalar_t* xp = xp_t.data_ptr<scalar_t>();
  const scalar_t* probs = probs_t.data_ptr<scalar_t>();
  const int64_t* offsets = offsets_t.data_ptr<int64_t>();
  scalar_t* out = out_t.data_ptr<scalar_t>();
  at::parallel_for(0, (ch.r1 - ch.r0) * wo, 16, [&](int64_t p0, int64_t p1) {
    std::vector<scalar_t> weights(d);
    for (int64_t p = p0; p < p1; ++p) {
      const scalar_t* base = xp + ch.base(p, wo, hp, wp, c);
      for (int64_t k = 0; k < d; ++k)  // pixels of a chunk are consecutive
        weights[k] = probs[(ch.n * d + k) * ho * wo + ch.r0 * wo + p];
      for (int64_t t = 0; t < taps; ++t) {
        scalar_t* dst = out + (p * taps + t) * c;
        const scalar_t* s0 = base + offsets[t];
        const scalar_t w0 = weights[0];
        if (d == 3) {  // the usual case: one pass
          const scalar_t* s1 = base + offsets[taps + t];
          const scalar_t* s2 = base + offsets[2 * taps + t];
          const scalar_t w1 = weights[1], w2 = weights[2];
#pragma omp simd
          for (int64_t q = 0; q < c; ++q)
            dst[q] = w0 * s0[q] + w1 * s1[q] + w2 * s2[q];
          continue;
        }
#pragma omp simd
        for (int64_t q = 0; q < c; ++q) dst[q] = w0 * s0[q];
        for (int64_t k = 1; k < d; ++k) {
          const scalar_t* s = base + offsets[k * taps + t];
          const scalar_t w = weights[k];
#pragma omp simd
          for (int64_t q = 0; q < c; ++q) dst[q] += w * s[q];
        }
      }
    }
  });
}

// out[p, t, :] = xp[base + offsets[index[n, i, j], t] : +C]
template <typename scalar_t>
void pick_kernel(const torch::Tensor& xp_t, const torch::Tensor& index_t,
                 const torch::Tensor& offsets_t, torch::Tensor& out_t,
                 const Chunk& ch) {
  const int64_t hp = xp_t.size(1), wp = xp_t.size(2), c = xp_t.size(3);
  const int64_t ho = index_t.size(2), wo = index_t.size(3),
                taps = offsets_t.size(1), d = offsets_t.size(0);
  const scalar_t* xp = xp_t.data_ptr<scalar_t>();
  const int64_t* index = index_t.data_ptr<int64_t>();
  const int64_t* offsets = offsets_t.data_ptr<int64_t>();
  scalar_t* out = out_t.data_ptr<scalar_t>();
  at::parallel_for(0, (ch.r1 - ch.r0) * wo, 16, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t k = index[(ch.n * ho + ch.r0) * wo + p];
      TORCH_CHECK(k >= 0 && k < d, "candidate index ", k, " outside [0, ",
                  d, ")");
      const scalar_t* base = xp + ch.base(p, wo, hp, wp, c);
      for (int64_t t = 0; t < taps; ++t)
        std::copy_n(base + offsets[k * taps + t], c, out + (p * taps + t) * c);
    }
  });
}

// grad_probs[n, k, i, j] = sum_{t, channel} gcols[p, t, :] * U_k[p, t, :]
template <typename scalar_t>
void probs_grad_kernel(const torch::Tensor& xp_t,
                       const torch::Tensor& offsets_t,
                       const torch::Tensor& gcols_t,
                       torch::Tensor& grad_probs_t, const Chunk& ch) {
  const int64_t hp = xp_t.size(1), wp = xp_t.size(2), c = xp_t.size(3);
  const int64_t d = grad_probs_t.size(1), ho = grad_probs_t.size(2),
                wo = grad_probs_t.size(3), taps = offsets_t.size(1);
  const scalar_t* xp = xp_t.data_ptr<scalar_t>();
  const int64_t* offsets = offsets_t.data_ptr<int64_t>();
  const scalar_t* gcols = gcols_t.data_ptr<scalar_t>();
  scalar_t* grad_probs = grad_probs_t.data_ptr<scalar_t>();
  at::parallel_for(0, (ch.r1 - ch.r0) * wo, 16, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const scalar_t* base = xp + ch.base(p, wo, hp, wp, c);
      for (int64_t k = 0; k < d; ++k) {
        scalar_t acc = 0;
        for (int64_t t = 0; t < taps; ++t) {
          const scalar_t* g = gcols + (p * taps + t) * c;
          const scalar_t* s = base + offsets[k * taps + t];
#pragma omp simd reduction(+ : acc)
          for (int64_t q = 0; q < c; ++q) acc += g[q] * s[q];
        }
        grad_probs[(ch.n * d + k) * ho * wo + ch.r0 * wo + p] = acc;
      }
    }
  });
}

// grad_x[at U_k[p, t]] += probs[n, k, i, j] * gcols[p, t, :], for all k,
// into the unpadded channels-last gradient (N, H, W, C); what would land in
// the padding is dropped. Threads take rows of grad_x (each gathers what
// lands in its rows), so no two write the same values. row_offsets (D, KH):
// a * dh_k - ph_k; col_offsets (D, KW): b * dw_k - pw_k.
template <typename scalar_t>
void fold_kernel(const torch::Tensor& probs_t,
                 const torch::Tensor& row_offsets_t,
                 const torch::Tensor& col_offsets_t,
                 const torch::Tensor& gcols_t, torch::Tensor& grad_x_t,
                 const Chunk& ch) {
  const int64_t h = grad_x_t.size(1), w = grad_x_t.size(2),
                c = grad_x_t.size(3);
  const int64_t d = probs_t.size(1), ho = probs_t.size(2),
                wo = probs_t.size(3);
  const int64_t kh = row_offsets_t.size(1), kw = col_offsets_t.size(1);
  const int64_t taps = kh * kw;
  const scalar_t* probs = probs_t.data_ptr<scalar_t>();
  const int64_t* row_offsets = row_offsets_t.data_ptr<int64_t>();
  const int64_t* col_offsets = col_offsets_t.data_ptr<int64_t>();
  const scalar_t* gcols = gcols_t.data_ptr<scalar_t>();
  scalar_t* grad_x = grad_x_t.data_ptr<scalar_t>();
  const int64_t* row_end = row_offsets + d * kh;
  const int64_t y0 = std::max<int64_t>(
      0, ch.r0 * ch.sh + *std::min_element(row_offsets, row_end));
  const int64_t y1 = std::min<int64_t>(
      h, (ch.r1 - 1) * ch.sh + *std::max_element(row_offsets, row_end) + 1);
  at::parallel_for(y0, std::max(y0, y1), 1, [&](int64_t ya, int64_t yb) {
    for (int64_t y = ya; y < yb; ++y) {
      for (int64_t k = 0; k < d; ++k) {
        for (int64_t a = 0; a < kh; ++a) {
          const int64_t from = y - row_offsets[k * kh + a];
          if (from < 0 || from % ch.sh) continue;
          const int64_t i = from / ch.sh;
          if (i < ch.r0 || i >= ch.r1) continue;
          const scalar_t* weights = probs + ((ch.n * d + k) * ho + i) * wo;
          const scalar_t* g_row = gcols + (i - ch.r0) * wo * taps * c;
          scalar_t* dst_row = grad_x + (ch.n * h + y) * w * c;
          for (int64_t b = 0; b < kw; ++b) {
            const int64_t shift = col_offsets[k * kw + b];
            const scalar_t* g = g_row + (a * kw + b) * c;
            for (int64_t j = 0; j < wo; ++j) {
              const int64_t x = j * ch.sw + shift;
              if (x < 0 || x >= w) continue;
              const scalar_t wt = weights[j];
              scalar_t* to = dst_row + x * c;
              const scalar_t* from_g = g + j * taps * c;
#pragma omp simd
              for (int64_t q = 0; q < c; ++q) to[q] += wt * from_g[q];
            }
          }
        }
      }
    }
  });
}

Chunk make_chunk(int64_t n, int64_t r0, int64_t r1, int64_t sh, int64_t sw,
                 int64_t top, int64_t left) {
  TORCH_CHECK(sh > 0 && sw > 0, "strides must be positive");
  return Chunk{n, r0, r1, sh, sw, top, left};
}

void check_offsets(const torch::Tensor& offsets, int64_t candidates) {
  TORCH_CHECK(offsets.scalar_type() == torch::kInt64 && offsets.dim() == 2 &&
                  offsets.is_contiguous() && offsets.size(0) == candidates,
              "offsets: contiguous int64 (D, taps) expected");
}

// Every read of the chunk stays inside the padded input: the first pixel
// reads lowest, the last one highest.
void check_reach(const torch::Tensor& xp, const torch::Tensor& offsets,
                 const Chunk& ch, int64_t wo) {
  const int64_t* first = offsets.data_ptr<int64_t>();
  const int64_t* last = first + offsets.numel();
  const int64_t hp = xp.size(1), wp = xp.size(2), c = xp.size(3);
  TORCH_CHECK(
      ch.base(0, wo, hp, wp, c) + *std::min_element(first, last) >= 0 &&
          ch.base((ch.r1 - ch.r0) * wo - 1, wo, hp, wp, c) +
                  *std::max_element(first, last) + c <=
              xp.numel(),
      "offsets reach outside the padded input");
}

void to_channels_last(const torch::Tensor& x, torch::Tensor xp, int64_t top,
                      int64_t left) {
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous() && x.device().is_cpu(),
              "input: contiguous (N, C, H, W) CPU tensor expected");
  TORCH_CHECK(xp.dim() == 4 && xp.is_contiguous() &&
                  xp.scalar_type() == x.scalar_type() &&
                  xp.size(0) == x.size(0) && xp.size(3) == x.size(1) &&
                  top >= 0 && left >= 0 && top + x.size(2) <= xp.size(1) &&
                  left + x.size(3) <= xp.size(2),
              "padded input: contiguous (N, Hp, Wp, C) of the input's dtype "
              "with room for it at (top, left) expected");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pad_channels_last", [&] {
    channels_last_kernel<scalar_t>(x, xp, top, left);
  });
}

void mix(const torch::Tensor& xp, const torch::Tensor& probs,
         const torch::Tensor& offsets, torch::Tensor out, int64_t n,
         int64_t r0, int64_t r1, int64_t sh, int64_t sw, int64_t top,
         int64_t left) {
  const Chunk ch = make_chunk(n, r0, r1, sh, sw, top, left);
  check_chunk(xp, probs, out, ch);
  check_offsets(offsets, probs.size(1));
  TORCH_CHECK(probs.scalar_type() == xp.scalar_type(),
              "probabilities: the padded input's dtype expected");
  TORCH_CHECK(out.numel() == (r1 - r0) * probs.size(3) * offsets.size(1) *
                                 xp.size(3),
              "columns: (P, taps, C) values expected");
  check_reach(xp, offsets, ch, probs.size(3));
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "pad_mix", [&] {
    mix_kernel<scalar_t>(xp, probs, offsets, out, ch);
  });
}

void pick(const torch::Tensor& xp, const torch::Tensor& index,
          const torch::Tensor& offsets, torch::Tensor out, int64_t n,
          int64_t r0, int64_t r1, int64_t sh, int64_t sw, int64_t top,
          int64_t left) {
  const Chunk ch = make_chunk(n, r0, r1, sh, sw, top, left);
  check_chunk(xp, index, out, ch);
  TORCH_CHECK(index.scalar_type() == torch::kInt64 && index.size(1) == 1,
              "index: int64 (N, 1, Ho, Wo) expected");
  TORCH_CHECK(offsets.scalar_type() == torch::kInt64 && offsets.dim() == 2 &&
                  offsets.is_contiguous(),
              "offsets: contiguous int64 (D, taps) expected");
  TORCH_CHECK(out.numel() == (r1 - r0) * index.size(3) * offsets.size(1) *
                                 xp.size(3),
              "columns: (P, taps, C) values expected");
  check_reach(xp, offsets, ch, index.size(3));
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "pad_pick", [&] {
    pick_kernel<scalar_t>(xp, index, offsets, out, ch);
  });
}

void probs_grad(const torch::Tensor& xp, const torch::Tensor& offsets,
                const torch::Tensor& gcols, torch::Tensor grad_probs,
                int64_t n, int64_t r0, int64_t r1, int64_t sh, int64_t sw,
                int64_t top, int64_t left) {
  const Chunk ch = make_chunk(n, r0, r1, sh, sw, top, left);
  check_chunk(xp, grad_probs, gcols, ch);
  check_offsets(offsets, grad_probs.size(1));
  TORCH_CHECK(grad_probs.scalar_type() == xp.scalar_type(),
              "probabilities' gradient: the padded input's dtype expected");
  TORCH_CHECK(gcols.numel() >= (r1 - r0) * grad_probs.size(3) *
                                   offsets.size(1) * xp.size(3),
              "columns' gradient: (P, taps, C) values expected");
  check_reach(xp, offsets, ch, grad_probs.size(3));
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "pad_probs_grad", [&] {
    probs_grad_kernel<scalar_t>(xp, offsets, gcols, grad_probs, ch);
  });
}

void fold(const torch::Tensor& probs, const torch::Tensor& row_offsets,
          const torch::Tensor& col_offsets, const torch::Tensor& gcols,
          torch::Tensor grad_x, int64_t n, int64_t r0, int64_t r1,
          int64_t sh, int64_t sw) {
  const Chunk ch = make_chunk(n, r0, r1, sh, sw, 0, 0);
  TORCH_CHECK(grad_x.dim() == 4 && grad_x.is_contiguous() &&
                  grad_x.device().is_cpu(),
              "input gradient: contiguous (N, H, W, C) CPU tensor expected");
  check_chunk(grad_x, probs, gcols, ch);
  check_offsets(row_offsets, probs.size(1));
  check_offsets(col_offsets, probs.size(1));
  TORCH_CHECK(probs.scalar_type() == grad_x.scalar_type(),
              "probabilities: the gradient's dtype expected");
  TORCH_CHECK(gcols.numel() >= (r1 - r0) * probs.size(3) *
                                   row_offsets.size(1) * col_offsets.size(1) *
                                   grad_x.size(3),
              "columns' gradient: (P, taps, C) values expected");
  AT_DISPATCH_FLOATING_TYPES(grad_x.scalar_type(), "pad_fold", [&] {
    fold_kernel<scalar_t>(probs, row_offsets, col_offsets, gcols, grad_x,
                          ch);
  });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("to_channels_last", &to_channels_last,
        "NCHW input -> zero-padded channels-last copy");
  m.def("mix", &mix, "Mixed columns of one chunk");
  m.def("pick", &pick, "Columns of one chunk at each pixel's candidate");
  m.def("probs_grad", &probs_grad, "Probabilities' gradient of one chunk");
  m.def("fold", &fold, "Fold one chunk's column gradient into the input's");
}
