// Indirect direct-convolution micro-kernel for AVX-512F: 6 output pixels x 32 output channels
// (two of the AVX2 kernel's 16-channel weight panels side by side), 12 zmm accumulators, or 7
// pixels (14 accumulators) with CK_CONV_TILE7, which covers planes of 7n pixels (7x7, 14x14)
// with whole tiles. Same
// input addressing, taps, row skipping and stores as ck_f32_conv_6x16__avx2_fma.c: the pixel is
// broadcast, the output channels are the vector, and each output gets the same sum in the same
// order as in the AVX2 kernel.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_conv_tile6.h"

#define CK_TARGET __attribute__((target("avx512f")))

#define CK_LO(v) _mm512_castps512_ps256(v)
#define CK_HI(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))

// A block of a tile's taps and the tile's pixels that sum them: taps [d0, d1) for pixels
// [a, b) (the others read zero padding there, in a column left or right of the input).
typedef struct {
  size_t d0, d1;
  size_t a, b;
} ck_tap_block;

// One tap d for the pixels j with GUARD(j) (all of them, or those of a block); NP (1 or 2) is
// the number of 16-channel panels.
#define CK_TAP(GUARD)                                                                                   \
  do {                                                                                                  \
    _mm_prefetch((const char*)(w0 + 16 * d + 384), _MM_HINT_T0);                                       \
    if (NP == 2) _mm_prefetch((const char*)(w1 + 16 * d + 384), _MM_HINT_T0);                          \
    if (prefetch_input) {                                                                               \
      _mm_prefetch((const char*)(p0 + taps[d + 16]), _MM_HINT_T0);                                     \
      _mm_prefetch((const char*)(p5 + taps[d + 16]), _MM_HINT_T0);                                     \
    }                                                                                                   \
    const ptrdiff_t off = taps[d];                                                                      \
    const __m512 b0 = _mm512_loadu_ps(w0 + 16 * d);                                                     \
    const __m512 b1 = NP == 2 ? _mm512_loadu_ps(w1 + 16 * d) : b0;                                      \
    __m512 a;                                                                                           \
    if (GUARD(0)) { a = _mm512_set1_ps(p0[off]); c00 = _mm512_fmadd_ps(a, b0, c00); if (NP == 2) c01 = _mm512_fmadd_ps(a, b1, c01); } \
    if (MR > 1 && GUARD(1)) { a = _mm512_set1_ps(p1[off]); c10 = _mm512_fmadd_ps(a, b0, c10); if (NP == 2) c11 = _mm512_fmadd_ps(a, b1, c11); } \
    if (MR > 2 && GUARD(2)) { a = _mm512_set1_ps(p2[off]); c20 = _mm512_fmadd_ps(a, b0, c20); if (NP == 2) c21 = _mm512_fmadd_ps(a, b1, c21); } \
    if (MR > 3 && GUARD(3)) { a = _mm512_set1_ps(p3[off]); c30 = _mm512_fmadd_ps(a, b0, c30); if (NP == 2) c31 = _mm512_fmadd_ps(a, b1, c31); } \
    if (MR > 4 && GUARD(4)) { a = _mm512_set1_ps(p4[off]); c40 = _mm512_fmadd_ps(a, b0, c40); if (NP == 2) c41 = _mm512_fmadd_ps(a, b1, c41); } \
    if (MR > 5 && GUARD(5)) { a = _mm512_set1_ps(p5[off]); c50 = _mm512_fmadd_ps(a, b0, c50); if (NP == 2) c51 = _mm512_fmadd_ps(a, b1, c51); } \
    if (MR == 7 && GUARD(6)) {                                                                          \
      a = _mm512_set1_ps(p6[off]); c60 = _mm512_fmadd_ps(a, b0, c60); if (NP == 2) c61 = _mm512_fmadd_ps(a, b1, c61); \
    }                                                                                                   \
  } while (0)
#define CK_ALL(j) 1
#define CK_IN_BLOCK(j) (blk_a <= (j) && (j) < blk_b)

// One tile of MR (6 or 7) pixels x 32 channels. The 7th pixel (MR == 7) runs two more
// accumulators beside the 12 of the 6-pixel tile; its channels are stored one by one after the
// 6-pixel transposing store. Each output's sum is the same whatever MR. Without blocks, every
// pixel sums taps [0, depth); with blocks, each block's taps are summed by its pixels only (the
// products left out are with zero padding).
CK_TARGET __attribute__((always_inline)) static inline void ck_conv_6x32(
    const int MR, const int NP, size_t depth, const float* w0, const float* w1, const int32_t* taps, const float* const* pixels,
    size_t np, float* out, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const int prefetch_input, const ck_tap_block* blocks, size_t nblocks) {
  const float* p0 = pixels[0];
  const float* p1 = pixels[np > 1 ? 1 : 0];
  const float* p2 = pixels[np > 2 ? 2 : 0];
  const float* p3 = pixels[np > 3 ? 3 : 0];
  const float* p4 = pixels[np > 4 ? 4 : 0];
  const float* p5 = pixels[np > 5 ? 5 : 0];
  const float* p6 = pixels[MR == 7 && np > 6 ? 6 : 0];
  __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61;
  if (bias != NULL) {
    c00 = c10 = c20 = c30 = c40 = c50 = c60 = _mm512_loadu_ps(bias);
    c01 = c11 = c21 = c31 = c41 = c51 = c61 = NP == 2 ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c60 = c61 = _mm512_setzero_ps();
  }
  if (blocks == NULL) {
    for (size_t d = 0; d < depth; d++) CK_TAP(CK_ALL);
  } else {
    for (size_t k = 0; k < nblocks; k++) {
      const size_t blk_a = blocks[k].a, blk_b = blocks[k].b;
      if (blk_a == 0 && blk_b >= np) {
        for (size_t d = blocks[k].d0; d < blocks[k].d1; d++) CK_TAP(CK_ALL);
      } else {
        for (size_t d = blocks[k].d0; d < blocks[k].d1; d++) CK_TAP(CK_IN_BLOCK);
      }
    }
  }
  if (flags & CK_GEMM_CLAMP && !(flags & CK_CONV_ACCUMULATE)) {
    // max(lo, x) and min(hi, x) return x when x is NaN (the second operand wins).
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
#define CK_CLAMP(v) v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v))
    CK_CLAMP(c00); CK_CLAMP(c01); CK_CLAMP(c10); CK_CLAMP(c11); CK_CLAMP(c20); CK_CLAMP(c21);
    CK_CLAMP(c30); CK_CLAMP(c31); CK_CLAMP(c40); CK_CLAMP(c41); CK_CLAMP(c50); CK_CLAMP(c51);
    if (MR == 7) { CK_CLAMP(c60); CK_CLAMP(c61); }
#undef CK_CLAMP
  }
  if (MR >= 6 && np == (size_t)MR && nk == (size_t)(16 * NP) && !(flags & CK_CONV_ACCUMULATE)) {
    ck_store_6x8(CK_LO(c00), CK_LO(c10), CK_LO(c20), CK_LO(c30), CK_LO(c40), CK_LO(c50), out, channel_stride);
    ck_store_6x8(CK_HI(c00), CK_HI(c10), CK_HI(c20), CK_HI(c30), CK_HI(c40), CK_HI(c50), out + 8 * channel_stride,
                 channel_stride);
    if (NP == 2) ck_store_6x8(CK_LO(c01), CK_LO(c11), CK_LO(c21), CK_LO(c31), CK_LO(c41), CK_LO(c51), out + 16 * channel_stride,
                 channel_stride);
    if (NP == 2) ck_store_6x8(CK_HI(c01), CK_HI(c11), CK_HI(c21), CK_HI(c31), CK_HI(c41), CK_HI(c51), out + 24 * channel_stride,
                 channel_stride);
    if (MR == 7) {
      // The 7th pixel: channel i at out + i * channel_stride + 6.
      float seventh[32];
      _mm512_storeu_ps(seventh, c60);
      _mm512_storeu_ps(seventh + 16, c61);
      for (int i = 0; i < 16 * NP; i++) out[(size_t)i * channel_stride + 6] = seventh[i];
    }
    return;
  }
  __m256 col[32];
  ck_transpose_6x8(CK_LO(c00), CK_LO(c10), CK_LO(c20), CK_LO(c30), CK_LO(c40), CK_LO(c50), col);
  ck_transpose_6x8(CK_HI(c00), CK_HI(c10), CK_HI(c20), CK_HI(c30), CK_HI(c40), CK_HI(c50), col + 8);
  if (NP == 2) {
    ck_transpose_6x8(CK_LO(c01), CK_LO(c11), CK_LO(c21), CK_LO(c31), CK_LO(c41), CK_LO(c51), col + 16);
    ck_transpose_6x8(CK_HI(c01), CK_HI(c11), CK_HI(c21), CK_HI(c31), CK_HI(c41), CK_HI(c51), col + 24);
  }
  const size_t n6 = np < 6 ? np : 6;
  float seventh[32];
  if (MR == 7) {
    _mm512_storeu_ps(seventh, c60);
    _mm512_storeu_ps(seventh + 16, c61);
  }
  if (flags & CK_CONV_ACCUMULATE) {
    // out = clamp(out + acc)
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (size_t i = 0; i < nk; i++) {
      float* o = out + i * channel_stride;
      __m256 v = _mm256_add_ps(col[i], ck_load_n(o, n6));
      if (flags & CK_GEMM_CLAMP) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v));
      ck_store_n(o, v, n6);
      if (MR == 7 && np == 7) {
        float t = o[6] + seventh[i];
        // t < lo and t > hi are false for NaN: NaN propagates, as in the vector form.
        if (flags & CK_GEMM_CLAMP) { t = t < lo ? lo : t; t = t > hi ? hi : t; }
        o[6] = t;
      }
    }
    return;
  }
  for (size_t i = 0; i < nk; i++) {
    ck_store_n(out + i * channel_stride, col[i], n6);
    if (MR == 7 && np == 7) out[i * channel_stride + 6] = seventh[i];
  }
}

#undef CK_LO
#undef CK_HI
#undef CK_TAP
#undef CK_ALL
#undef CK_IN_BLOCK

#define CK_CONV_6X32_INSTANCE(NAME, MR, NP, PREFETCH)                                                      \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                      \
      size_t depth, const float* w0, const float* w1, const int32_t* taps, const float* const* pixels, size_t np, \
      float* out, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,       \
      const ck_tap_block* blocks, size_t nblocks) {                                                            \
    ck_conv_6x32(MR, NP, depth, w0, w1, taps, pixels, np, out, channel_stride, nk, bias, flags, lo, hi,        \
                 PREFETCH, blocks, nblocks);                                                                   \
  }
// MR pixels (1..7) x NP panels (1 or 2), with or without input prefetches.
CK_CONV_6X32_INSTANCE(ck_conv_m1_p1_f0, 1, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m2_p1_f0, 2, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m3_p1_f0, 3, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m4_p1_f0, 4, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m5_p1_f0, 5, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m6_p1_f0, 6, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m7_p1_f0, 7, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m1_p1_f1, 1, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m2_p1_f1, 2, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m3_p1_f1, 3, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m4_p1_f1, 4, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m5_p1_f1, 5, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m6_p1_f1, 6, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m7_p1_f1, 7, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m1_p2_f0, 1, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m2_p2_f0, 2, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m3_p2_f0, 3, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m4_p2_f0, 4, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m5_p2_f0, 5, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m6_p2_f0, 6, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m7_p2_f0, 7, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m1_p2_f1, 1, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m2_p2_f1, 2, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m3_p2_f1, 3, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m4_p2_f1, 4, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m5_p2_f1, 5, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m6_p2_f1, 6, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m7_p2_f1, 7, 2, 1)
#undef CK_CONV_6X32_INSTANCE

typedef void (*ck_conv_tile_fn)(size_t, const float*, const float*, const int32_t*, const float* const*, size_t, float*,
                                size_t, size_t, const float*, uint32_t, float, float, const ck_tap_block*, size_t);
// [panels - 1][prefetch][MR - 1]: tiles of MR pixels (1..7); a tile of np < 6 pixels runs the
// MR = np instance (no empty accumulators), its sums the same as in any other tile.
static const ck_conv_tile_fn ck_conv_tile_kernels[2][2][7] = {
    {{ck_conv_m1_p1_f0, ck_conv_m2_p1_f0, ck_conv_m3_p1_f0, ck_conv_m4_p1_f0, ck_conv_m5_p1_f0, ck_conv_m6_p1_f0, ck_conv_m7_p1_f0},
     {ck_conv_m1_p1_f1, ck_conv_m2_p1_f1, ck_conv_m3_p1_f1, ck_conv_m4_p1_f1, ck_conv_m5_p1_f1, ck_conv_m6_p1_f1, ck_conv_m7_p1_f1}},
    {{ck_conv_m1_p2_f0, ck_conv_m2_p2_f0, ck_conv_m3_p2_f0, ck_conv_m4_p2_f0, ck_conv_m5_p2_f0, ck_conv_m6_p2_f0, ck_conv_m7_p2_f0},
     {ck_conv_m1_p2_f1, ck_conv_m2_p2_f1, ck_conv_m3_p2_f1, ck_conv_m4_p2_f1, ck_conv_m5_p2_f1, ck_conv_m6_p2_f1, ck_conv_m7_p2_f1}}};

// The blocks of a tile of np pixels within one output row, starting at column ox, that sums the
// taps of kernel rows [r_lo, r_hi] (in (r, s, c) order): per kernel column s, the pixels whose
// input column is inside the plane; consecutive columns with the same pixels merge into one
// block. Returns 0 when the tile cannot be blocked (too many columns) or every pixel sums every
// tap (the plain loop is then as good).
static size_t ck_conv_column_blocks(const ck_conv_rows* rows, size_t ox, size_t np, size_t r_lo, size_t r_hi,
                                    ck_tap_block* blocks, size_t max_blocks, int* all_padding) {
  *all_padding = 0;
  const size_t S = rows->kernel_cols, C = rows->channels;
  if (S > 16) return 0;
  size_t a[16], b[16];
  int trimmed = 0;
  for (size_t s = 0; s < S; s++) {
    // Input column of pixel j: (ox + j) * stride + s * dilation - pad_left, inside [0, input_width).
    const ptrdiff_t st = (ptrdiff_t)rows->col_stride;
    const ptrdiff_t base = (ptrdiff_t)(ox * rows->col_stride + s * rows->col_dilation) - (ptrdiff_t)rows->pad_left;
    ptrdiff_t lo = base >= 0 ? 0 : (-base + st - 1) / st;
    const ptrdiff_t last = (ptrdiff_t)rows->input_width - 1 - base;
    ptrdiff_t hi = last < 0 ? 0 : last / st + 1;
    if (lo > (ptrdiff_t)np) lo = (ptrdiff_t)np;
    if (hi > (ptrdiff_t)np) hi = (ptrdiff_t)np;
    if (hi < lo) hi = lo;
    a[s] = (size_t)lo;
    b[s] = (size_t)hi;
    if (a[s] != 0 || b[s] != np) trimmed = 1;
  }
  if (!trimmed) return 0;
  size_t n = 0;
  for (size_t r = r_lo; r <= r_hi; r++) {
    for (size_t s = 0; s < S; s++) {
      if (a[s] == b[s]) continue;  // no pixel reads inside the plane in this column
      const size_t d0 = (r * S + s) * C, d1 = d0 + C;
      if (n > 0 && blocks[n - 1].d1 == d0 && blocks[n - 1].a == a[s] && blocks[n - 1].b == b[s]) {
        blocks[n - 1].d1 = d1;
      } else {
        if (n == max_blocks) return 0;
        blocks[n++] = (ck_tap_block){d0, d1, a[s], b[s]};
      }
    }
  }
  if (n == 0) *all_padding = 1;  // every column of every pixel reads padding
  return n;
}

// One tile of np (1..7) pixels at pixels[] over the taps [d0, d1) of its kernel rows, panels (1
// or 2) 16-channel panels at w and w + w_panel_stride, stored at o. With col_blocks (the tile lies
// in one output row, from column ox, and the taps are in (r, s, c) order), each pixel sums only
// its kernel columns inside the image. With in_place, a tile whose every tap reads padding sums
// nothing (its outputs are the bias); without, it sums its taps over the zero-padded copy, the
// AVX2 kernel's products.
static inline void ck_conv_run_tile(const ck_conv_rows* rows, int col_blocks, int in_place, size_t ox,
                                    const float* const* pixels, size_t np, size_t d0, size_t d1, const float* w,
                                    size_t w_panel_stride, int panels, const int32_t* taps, float* o,
                                    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
                                    float hi) {
  ck_tap_block blocks[64];
  size_t nblocks = 0;
  int all_padding = 0;
  if (col_blocks && d1 > d0) {
    nblocks = ck_conv_column_blocks(rows, ox, np, d0 / rows->taps_per_row, d1 / rows->taps_per_row - 1, blocks, 64,
                                    &all_padding);
  }
  const ck_tap_block* bl = nblocks > 0 ? blocks : NULL;
  // Without blocks the kernel reads taps [d0, d1) from pointers at d0; with blocks, the blocks'
  // absolute taps from pointers at tap 0.
  const size_t base = bl != NULL ? 0 : d0;
  const float* w0 = w + base * 16;
  const size_t n = in_place && all_padding ? 0 : d1 - d0;
  ck_conv_tile_kernels[panels == 2 ? 1 : 0][(flags & CK_CONV_PREFETCH_INPUT) != 0][np - 1](
      n, w0, panels == 2 ? w0 + w_panel_stride : w0, taps + base, pixels, np, o, channel_stride, nk, bias, flags, lo,
      hi, bl, nblocks);
}

CK_TARGET void ck_f32_conv_tiles_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, const int32_t* taps, const float* image, size_t row_step,
    size_t col_step, size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride,
    size_t nk, const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows) {
  size_t oy = first_pixel / output_width, ox = first_pixel % output_width;
  const size_t mr = (flags & CK_CONV_TILE7) ? 7 : 6;
  const float* pixels[7];
  for (size_t p = 0; p < pixel_count; p += mr) {
    const size_t np = pixel_count - p < mr ? pixel_count - p : mr;
    const size_t first_row = oy, first_col = ox;
    for (size_t j = 0; j < np; j++) {
      pixels[j] = image + oy * row_step + ox * col_step;
      if (++ox == output_width) { ox = 0; oy++; }
    }
    const size_t last_row = ox == 0 ? oy - 1 : oy;
    size_t d0, d1;
    ck_conv_tile_taps(rows, first_row, last_row, depth, &d0, &d1);
    // A tile within one output row whose pixels see padding columns: per-column blocks.
    ck_conv_run_tile(rows, rows != NULL && rows->skip_cols && first_row == last_row, 0, first_col, pixels, np, d0, d1,
                     w, w_panel_stride, nk <= 16 ? 1 : 2, taps, out + first_pixel + p, channel_stride, nk, bias,
                     flags, lo, hi);
  }
}

// Output rows [first_row, first_row + row_count) of one image, the input read in place: tiles
// of 6 or 7 pixels never cross a row end, so each tile's kernel rows (ck_conv_tile_taps) and,
// pixel by pixel, its kernel columns (ck_conv_column_blocks) are exactly those inside the image,
// and no tap outside it is ever read. A pixel's base address may lie outside the input; it is
// formed with integer arithmetic and only dereferenced at its taps inside the image.
CK_TARGET void ck_f32_conv_rows_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, size_t panels, const int32_t* taps, const float* image,
    size_t row_step, size_t col_step, size_t output_width, size_t first_row, size_t row_count, float* out,
    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const ck_conv_rows* rows) {
  // Each row in the fewest tiles of at most 7 pixels, of balanced sizes (a 9-pixel row as 5 + 4,
  // not 7 + 2): a tile of np pixels runs the np-pixel kernel, and small tiles run below peak.
  const size_t tiles_per_row = (output_width + 6) / 7;
  const size_t small = output_width / tiles_per_row, larger = output_width % tiles_per_row;
  const ptrdiff_t origin = (ptrdiff_t)(rows->pad_top * rows->input_width + rows->pad_left);
  const float* pixels[7];
  for (size_t oy = first_row; oy < first_row + row_count; oy++) {
    size_t d0, d1;
    ck_conv_tile_taps(rows, oy, oy, depth, &d0, &d1);
    size_t ox = 0;
    for (size_t t = 0; t < tiles_per_row; t++) {
      const size_t np = small + (t < larger ? 1 : 0);
      for (size_t j = 0; j < np; j++) {
        const ptrdiff_t offset = (ptrdiff_t)(oy * row_step + (ox + j) * col_step) - origin;
        pixels[j] = (const float*)((uintptr_t)image + (uintptr_t)(offset * (ptrdiff_t)sizeof(float)));
      }
      ck_conv_run_tile(rows, rows->skip_cols, 1, ox, pixels, np, d0, d1, w, w_panel_stride, panels == 2 ? 2 : 1, taps,
                       out + oy * output_width + ox, channel_stride, nk, bias, flags, lo, hi);
      ox += np;
    }
  }
}

#else
void ck_f32_conv_tiles_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, const int32_t* taps, const float* image, size_t row_step,
    size_t col_step, size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride,
    size_t nk, const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows) {
  (void)depth; (void)w; (void)w_panel_stride; (void)taps; (void)image; (void)row_step; (void)col_step;
  (void)output_width; (void)first_pixel; (void)pixel_count; (void)out; (void)channel_stride; (void)nk; (void)bias;
  (void)flags; (void)lo; (void)hi; (void)rows;
}
void ck_f32_conv_rows_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, size_t panels, const int32_t* taps, const float* image,
    size_t row_step, size_t col_step, size_t output_width, size_t first_row, size_t row_count, float* out,
    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const ck_conv_rows* rows) {
  (void)depth; (void)w; (void)w_panel_stride; (void)panels; (void)taps; (void)image; (void)row_step;
  (void)col_step; (void)output_width; (void)first_row; (void)row_count; (void)out; (void)channel_stride; (void)nk;
  (void)bias; (void)flags; (void)lo; (void)hi; (void)rows;
}
#endif
