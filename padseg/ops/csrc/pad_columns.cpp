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
#ifdef __AVX__
#include <immintrin.h>
#endif

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

// Transposed copies go in tiles of this many values a side, so that both
// the rows read and the rows written stay in cache (PyTorch's strided copy of
// the permuted input took twice as long here).
constexpr int64_t kTile = 16;

// dst[j * dst_ld + i] = src[i * src_ld + j] for i < rows, j < cols.
template <typename scalar_t>
void transpose(const scalar_t* src, int64_t src_ld, scalar_t* dst,
               int64_t dst_ld, int64_t rows, int64_t cols) {
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    const int64_t i1 = std::min(rows, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t j1 = std::min(cols, j0 + kTile);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i)
          dst[j * dst_ld + i] = src[i * src_ld + j];
    }
  }
}

#ifdef __AVX__
// float: 8x8 blocks transposed in AVX registers (about twice as fast as the
// tiles, which the compiler leaves scalar), the edges as above.
inline void transpose_8x8(const float* src, int64_t src_ld, float* dst,
                          int64_t dst_ld) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_ld);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * dst_ld,
                     _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * dst_ld,
                     _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

template <>
void transpose<float>(const float* src, int64_t src_ld, float* dst,
                      int64_t dst_ld, int64_t rows, int64_t cols) {
  const int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
  for (int64_t i = 0; i < rows8; i += 8)
    for (int64_t j = 0; j < cols8; j += 8)
      transpose_8x8(src + i * src_ld + j, src_ld, dst + j * dst_ld + i,
                    dst_ld);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = i < rows8 ? cols8 : 0; j < cols; ++j)
      dst[j * dst_ld + i] = src[i * src_ld + j];
}
#endif

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
      // (C, W) at channel 0, row y -> (W, C)
      transpose(x + (n * c * h + y) * w, h * w, row + left * c, c, c, w);
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

// The weight (O, C / groups, KH, KW) as rows (groups, O / groups, taps * C /
// groups) ordered (tap, channel) like the columns: a transposed copy per
// output channel.
torch::Tensor weight_rows(const torch::Tensor& weight, int64_t groups) {
  TORCH_CHECK(weight.dim() == 4 && weight.is_contiguous() &&
                  weight.device().is_cpu() && groups > 0 &&
                  weight.size(0) % groups == 0,
              "weight: contiguous (O, C / groups, KH, KW) CPU tensor with O "
              "a multiple of groups expected");
  const int64_t o = weight.size(0), c = weight.size(1),
                taps = weight.size(2) * weight.size(3);
  auto rows = at::empty({groups, o / groups, taps * c}, weight.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, weight.scalar_type(), "pad_weight_rows", [&] {
        const scalar_t* src = weight.data_ptr<scalar_t>();
        scalar_t* dst = rows.data_ptr<scalar_t>();
        at::parallel_for(0, o, 16, [&](int64_t o0, int64_t o1) {
          for (int64_t q = o0; q < o1; ++q)
            transpose(src + q * c * taps, taps, dst + q * taps * c, c, c,
                      taps);
        });
      });
  return rows;
}

// The whole convolution of argmax evaluation, into the NCHW output (N, O,
// Ho, Wo). The output is cut into blocks of whole rows of one image, of
// about `pixels` pixels and at least two per thread. Each thread takes whole
// blocks: it picks each pixel's columns at its own candidate into its own
// buffer, multiplies them by the weight rows (groups, O / groups, taps * C /
// groups) on its own and writes its part of the output. Blocks of a few
// hundred pixels keep a thread's columns in its cache and no thread waits
// for another: faster than multi-threaded products of larger chunks.
torch::Tensor gather_conv(const torch::Tensor& xp, const torch::Tensor& index,
                          const torch::Tensor& offsets,
                          const torch::Tensor& weight_rows,
                          const c10::optional<torch::Tensor>& bias,
                          int64_t pixels, int64_t sh, int64_t sw, int64_t top,
                          int64_t left) {
  TORCH_CHECK(xp.dim() == 4 && index.dim() == 4 && offsets.dim() == 2 &&
                  weight_rows.dim() == 3,
              "padded input (N, Hp, Wp, C), index (N, 1, Ho, Wo), offsets "
              "(D, taps) and weight rows (groups, O / groups, K) expected");
  const int64_t n_img = xp.size(0), c = xp.size(3);
  const int64_t ho = index.size(2), wo = index.size(3);
  const int64_t taps = offsets.size(1), groups = weight_rows.size(0);
  TORCH_CHECK(weight_rows.is_contiguous() && weight_rows.device().is_cpu() &&
                  weight_rows.scalar_type() == xp.scalar_type() &&
                  c % groups == 0 &&
                  weight_rows.size(2) * groups == taps * c,
              "weight rows: contiguous (groups, O / groups, taps * C / "
              "groups) of the padded input's dtype expected");
  const int64_t o = groups * weight_rows.size(1);
  TORCH_CHECK(!bias.has_value() ||
                  (bias->dim() == 1 && bias->size(0) == o &&
                   bias->scalar_type() == xp.scalar_type()),
              "bias: (O,) of the padded input's dtype expected");
  TORCH_CHECK(!bias.has_value() || bias->device().is_cpu(),
              "bias: a CPU tensor expected");
  TORCH_CHECK(pixels > 0, "pixels per block must be positive");
  auto out = at::empty({n_img, o, ho, wo}, xp.options());
  if (out.numel() == 0) return out;
  // Blocks of balanced heights, enough for every thread.
  const int64_t threads = at::get_num_threads();
  const int64_t most_rows = std::min(ho, (pixels + wo - 1) / wo);
  int64_t per_image = (ho + most_rows - 1) / most_rows;
  const int64_t wanted = 2 * threads;
  if (n_img * per_image < wanted)
    per_image = std::min(ho, (wanted + n_img - 1) / n_img);
  const int64_t rows = (ho + per_image - 1) / per_image;
  per_image = (ho + rows - 1) / rows;
  // Each thread's buffers, allocated here: memory that worker threads
  // allocate comes from their own arenas, which hand it back to the system
  // after each call (fresh pages again on the next one).
  auto all_columns =
      at::empty({threads, rows * wo, taps * c}, xp.options());
  auto all_results =
      at::empty({threads, groups == 1 ? rows * wo : 0, o}, xp.options());
  at::parallel_for(0, n_img * per_image, 1, [&](int64_t b0, int64_t b1) {
    // Inside, ATen's and MKL's own threading run inline: one thread each.
    // No autograd (its mode is per thread, so set here).
    at::NoGradGuard no_grad;
    // The modulo only matters when called inside an outer parallel region,
    // where this loop runs inline on one thread of any number.
    const int64_t slot = at::get_thread_num() % threads;
    auto columns = all_columns[slot];
    auto result = all_results[slot];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = b / per_image, r0 = b % per_image * rows;
      const int64_t r1 = std::min(ho, r0 + rows), p = (r1 - r0) * wo;
      auto cols = columns.narrow(0, 0, p);
      pick(xp, index, offsets, cols, n, r0, r1, sh, sw, top, left);
      auto out_n = out[n].view({o, ho * wo});
      if (groups > 1) {  // (g, O / g, P) by one batched product
        auto grouped = cols.view({p, taps, groups, c / groups})
                           .permute({2, 0, 1, 3})
                           .reshape({groups, p, -1});
        auto res = at::bmm(weight_rows, grouped.transpose(1, 2)).view({o, p});
        if (bias.has_value()) res.add_(bias->unsqueeze(1));
        out_n.narrow(1, r0 * wo, p).copy_(res);
        continue;
      }
      // cols W^T, then transposed: MKL's product runs faster in this
      // orientation than W cols^T at these shapes.
      auto res = result.narrow(0, 0, p);
      auto weight_t = weight_rows[0].t();
      if (bias.has_value())
        at::addmm_out(res, *bias, cols, weight_t);
      else
        at::mm_out(res, cols, weight_t);
      AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "pad_gather_out", [&] {
        transpose(res.data_ptr<scalar_t>(), o,
                  out_n.data_ptr<scalar_t>() + r0 * wo, ho * wo, p, o);
      });
    }
  });
  return out;
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
  m.def("weight_rows", &weight_rows,
        "The weight as rows ordered (tap, channel), like the columns");
  m.def("mix", &mix, "Mixed columns of one chunk");
  m.def("gather_conv", &gather_conv,
        "Convolution with each pixel's columns at its own candidate");
  m.def("probs_grad", &probs_grad, "Probabilities' gradient of one chunk");
  m.def("fold", &fold, "Fold one chunk's column gradient into the input's");
}
