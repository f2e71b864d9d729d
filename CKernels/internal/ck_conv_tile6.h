// Shared pieces of the 6-pixel indirect convolution kernels (AVX2 and AVX-512 builds): the
// transposing stores of a 6-pixel tile to channel rows, and the taps a tile sums, with the
// blocks of taps its pixels sum when it reads the input in place (internal header, not part of
// the module).
#ifndef CK_CONV_TILE6_H
#define CK_CONV_TILE6_H

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx2_transpose.h"
#include "ck_kernels.h"

// Transposes rows r_j (pixel j, 8 channels) into col[i] (channel i, lanes 0..5 = pixels).
__attribute__((target("avx2,fma"), always_inline)) static inline void ck_transpose_6x8(
    __m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5, __m256 col[8]) {
  __m256 u[8];
  ck_transpose6_halves(r0, r1, r2, r3, r4, r5, u);
  for (int i = 0; i < 4; i++) {
    col[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    col[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// 8 channels of 6 consecutive pixels, all stored: rows r_j (pixel j, 8 channels) transposed
// and stored as 4 + 2 floats per channel (fewer shuffles than ck_transpose_6x8: channels 0-3
// come straight from the low halves).
__attribute__((target("avx2,fma"), always_inline)) static inline void ck_store_6x8(
    __m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5, float* out, size_t stride) {
  __m256 u[8];
  ck_transpose6_halves(r0, r1, r2, r3, r4, r5, u);
  for (int i = 0; i < 4; i++) {
    float* lo = out + (size_t)i * stride;        // channel i: low halves
    float* hi = out + (size_t)(i + 4) * stride;  // channel i + 4: high halves
    _mm_storeu_ps(lo, _mm256_castps256_ps128(u[i]));
    _mm_storel_pi((__m64*)(lo + 4), _mm256_castps256_ps128(u[i + 4]));
    _mm_storeu_ps(hi, _mm256_extractf128_ps(u[i], 1));
    _mm_storel_pi((__m64*)(hi + 4), _mm256_extractf128_ps(u[i + 4], 1));
  }
}

// Stores lanes 0 .. n-1 (n in 1..6) of v at p with plain stores (AMD runs vmaskmovps stores
// slowly).
__attribute__((target("avx2,fma"), always_inline)) static inline void ck_store_n(float* p, __m256 v, size_t n) {
  const __m128 lo = _mm256_castps256_ps128(v);
  switch (n) {
    case 1: _mm_store_ss(p, lo); break;
    case 2: _mm_storel_pi((__m64*)p, lo); break;
    case 3: _mm_storel_pi((__m64*)p, lo); _mm_store_ss(p + 2, _mm_movehl_ps(lo, lo)); break;
    case 4: _mm_storeu_ps(p, lo); break;
    case 5: _mm_storeu_ps(p, lo); _mm_store_ss(p + 4, _mm256_extractf128_ps(v, 1)); break;
    default: _mm_storeu_ps(p, lo); _mm_storel_pi((__m64*)(p + 4), _mm256_extractf128_ps(v, 1)); break;
  }
}

// Loads lanes 0 .. n-1 (n in 1..6) from p (lanes past n are zero), without reading past p + n.
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 ck_load_n(const float* p, size_t n) {
  __m128 lo = _mm_setzero_ps(), hi = _mm_setzero_ps();
  switch (n) {
    case 1: lo = _mm_load_ss(p); break;
    case 2: lo = _mm_loadl_pi(lo, (const __m64*)p); break;
    case 3: lo = _mm_movelh_ps(_mm_loadl_pi(lo, (const __m64*)p), _mm_load_ss(p + 2)); break;
    case 4: lo = _mm_loadu_ps(p); break;
    case 5: lo = _mm_loadu_ps(p); hi = _mm_load_ss(p + 4); break;
    default: lo = _mm_loadu_ps(p); hi = _mm_loadl_pi(hi, (const __m64*)(p + 4)); break;
  }
  return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

// The taps [*d0, *d1) of a tile of pixels in output rows first_row ... last_row (all taps
// without rows or rows->skip; *d0 = *d1 when every tap reads padding).
static inline void ck_conv_tile_taps(const ck_conv_rows* rows, size_t first_row, size_t last_row, size_t depth,
                                     size_t* d0_out, size_t* d1_out) {
  size_t d0 = 0, d1 = depth;
  if (rows != NULL && rows->skip) {
    // Kernel rows r with an input row inside the image for some pixel of the tile:
    // r >= (pad_top - last_row * stride) / dilation and
    // r <= (input_height - 1 + pad_top - first_row * stride) / dilation.
    const ptrdiff_t top = (ptrdiff_t)rows->pad_top - (ptrdiff_t)(last_row * rows->stride);
    const ptrdiff_t bottom = (ptrdiff_t)rows->input_height - 1 + (ptrdiff_t)rows->pad_top -
                             (ptrdiff_t)(first_row * rows->stride);
    const ptrdiff_t dil = (ptrdiff_t)rows->dilation;
    ptrdiff_t r_lo = top <= 0 ? 0 : (top + dil - 1) / dil;
    ptrdiff_t r_hi = bottom < 0 ? -1 : bottom / dil;
    if (r_hi > (ptrdiff_t)rows->kernel_rows - 1) r_hi = (ptrdiff_t)rows->kernel_rows - 1;
    if (r_lo > r_hi) {
      d0 = d1 = 0;  // every tap reads padding: the outputs are the bias alone
    } else {
      d0 = (size_t)r_lo * rows->taps_per_row;
      d1 = (size_t)(r_hi + 1) * rows->taps_per_row;
    }
  }
  *d0_out = d0;
  *d1_out = d1;
}

// A block of a tile's taps and the tile's pixels that sum them: taps [d0, d1) for the pixels j
// with bit j of mask set (the others read zero padding there: a column left or right of the
// input, or, in a tile of several output rows, a row above or below it).
typedef struct {
  size_t d0, d1;
  uint32_t mask;
} ck_tap_block;

// The blocks of a tile of nrows x w pixels (pixel j = i * w + c at output row oy + i, column
// ox + c: one row of w pixels, or nrows whole rows of w = output_width pixels) that sums the
// taps of kernel rows [r_lo, r_hi] (in (r, s, c) order): per kernel row r and column s, the
// mask of the pixels whose input row and column are inside the plane (with one output row,
// every kernel row in [r_lo, r_hi] counts as inside: the caller has cut the rows); consecutive
// columns with the same mask merge into one block. Returns 0 when the tile cannot be blocked
// (too many columns or blocks) or every pixel sums every tap (the plain loop is then as good).
// Closed forms per column and row, not per pixel: small layers build a tile's blocks for every
// few hundred FMAs.
static inline size_t ck_conv_tile_blocks(const ck_conv_rows* rows, size_t oy, size_t nrows, size_t ox, size_t w,
                                         size_t r_lo, size_t r_hi, ck_tap_block* blocks, size_t max_blocks,
                                         int* all_padding) {
  *all_padding = 0;
  const size_t S = rows->kernel_cols, C = rows->channels;
  if (S > 16 || nrows * w > 32) return 0;
  const uint32_t row_bits = w >= 32 ? ~0u : (1u << w) - 1u;
  const uint32_t all = nrows * w >= 32 ? ~0u : (1u << (nrows * w)) - 1u;
  uint32_t col_mask[16];
  int trimmed = 0;
  for (size_t s = 0; s < S; s++) {
    // Input column of pixel c: (ox + c) * stride + s * dilation - pad_left, inside [0, input_width).
    const ptrdiff_t st = (ptrdiff_t)rows->col_stride;
    const ptrdiff_t base = (ptrdiff_t)(ox * rows->col_stride + s * rows->col_dilation) - (ptrdiff_t)rows->pad_left;
    ptrdiff_t lo = base >= 0 ? 0 : (-base + st - 1) / st;
    const ptrdiff_t last = (ptrdiff_t)rows->input_width - 1 - base;
    ptrdiff_t hi = last < 0 ? 0 : last / st + 1;
    if (lo > (ptrdiff_t)w) lo = (ptrdiff_t)w;
    if (hi > (ptrdiff_t)w) hi = (ptrdiff_t)w;
    if (hi < lo) hi = lo;
    col_mask[s] = (hi >= 32 ? ~0u : (1u << hi) - 1u) & ~(lo >= 32 ? ~0u : (1u << lo) - 1u);
    if (col_mask[s] != row_bits) trimmed = 1;
  }
  if (!trimmed && nrows == 1) return 0;
  size_t n = 0;
  for (size_t r = r_lo; r <= r_hi; r++) {
    // The tile's rows whose input row for kernel row r is inside the plane.
    uint32_t rows_in = 1u;
    if (nrows > 1) {
      rows_in = 0;
      for (size_t i = 0; i < nrows; i++) {
        const ptrdiff_t iy = (ptrdiff_t)((oy + i) * rows->stride + r * rows->dilation) - (ptrdiff_t)rows->pad_top;
        if (iy >= 0 && iy < (ptrdiff_t)rows->input_height) rows_in |= 1u << i;
      }
    }
    for (size_t s = 0; s < S; s++) {
      uint32_t mask = 0;
      for (size_t i = 0; i < nrows; i++) {
        if (rows_in >> i & 1u) mask |= col_mask[s] << (i * w);
      }
      if (mask != all) trimmed = 1;
      if (mask == 0) continue;  // no pixel reads inside the plane at (r, s)
      const size_t d0 = (r * S + s) * C, d1 = d0 + C;
      if (n > 0 && blocks[n - 1].d1 == d0 && blocks[n - 1].mask == mask) {
        blocks[n - 1].d1 = d1;
      } else {
        if (n == max_blocks) return 0;
        blocks[n++] = (ck_tap_block){d0, d1, mask};
      }
    }
  }
  if (!trimmed) return 0;
  if (n == 0) *all_padding = 1;  // every tap of every pixel reads padding
  return n;
}
#endif
#endif
