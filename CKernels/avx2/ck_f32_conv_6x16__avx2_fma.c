// Indirect direct-convolution micro-kernel for AVX2 + FMA: 6 output pixels x 16 output
// channels, 12 ymm accumulators (the pixel is broadcast, the output channels are the vector).
//
// The input is read in place (NCHW, or a zero-padded copy of it): pixel j's taps are
// pixels[j][taps[d]], so any stride and dilation need no packing, and a tap is never read
// past its own element (scalar broadcasts, no vector over-read).
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_conv_tile6.h"

#define CK_TARGET __attribute__((target("avx2,fma")))

// The epilogue of a 6x16 tile of np pixels: clamp (or add the prior outputs, then clamp) and
// store the tile transposed to its nk channel rows.
CK_TARGET __attribute__((always_inline)) static inline void ck_conv_6x16_finish(
    __m256 c00, __m256 c01, __m256 c10, __m256 c11, __m256 c20, __m256 c21, __m256 c30, __m256 c31, __m256 c40,
    __m256 c41, __m256 c50, __m256 c51, size_t np, float* out, size_t channel_stride, size_t nk, uint32_t flags,
    float lo, float hi) {
  if (flags & CK_CONV_ACCUMULATE) {
    // out = clamp(out + acc): transpose to channel vectors, add the prior outputs, clamp, store.
    __m256 col[16];
    ck_transpose_6x8(c00, c10, c20, c30, c40, c50, col);
    ck_transpose_6x8(c01, c11, c21, c31, c41, c51, col + 8);
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (size_t i = 0; i < nk; i++) {
      float* o = out + i * channel_stride;
      __m256 v = _mm256_add_ps(col[i], ck_load_n(o, np));
      if (flags & CK_GEMM_CLAMP) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v));
      ck_store_n(o, v, np);
    }
    return;
  }
  if (flags & CK_GEMM_CLAMP) {
    // max(lo, x) and min(hi, x) return x when x is NaN (the second operand wins).
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
#define CK_CLAMP(v) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v))
    CK_CLAMP(c00); CK_CLAMP(c01); CK_CLAMP(c10); CK_CLAMP(c11); CK_CLAMP(c20); CK_CLAMP(c21);
    CK_CLAMP(c30); CK_CLAMP(c31); CK_CLAMP(c40); CK_CLAMP(c41); CK_CLAMP(c50); CK_CLAMP(c51);
#undef CK_CLAMP
  }
  // The tile's outputs are consecutive (output pixels are row-major in each channel plane):
  // transpose the 6 x 16 tile to 16 channel vectors of 6 pixels and store each with plain stores.
  if (np == 6 && nk == 16) {
    ck_store_6x8(c00, c10, c20, c30, c40, c50, out, channel_stride);
    ck_store_6x8(c01, c11, c21, c31, c41, c51, out + 8 * channel_stride, channel_stride);
    return;
  }
  __m256 col[16];
  ck_transpose_6x8(c00, c10, c20, c30, c40, c50, col);
  ck_transpose_6x8(c01, c11, c21, c31, c41, c51, col + 8);
  for (size_t i = 0; i < nk; i++) ck_store_n(out + i * channel_stride, col[i], np);
}

CK_TARGET __attribute__((always_inline)) static inline void ck_conv_6x16(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* out, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi, const int prefetch_input) {
  const float* p0 = pixels[0];
  const float* p1 = pixels[np > 1 ? 1 : 0];
  const float* p2 = pixels[np > 2 ? 2 : 0];
  const float* p3 = pixels[np > 3 ? 3 : 0];
  const float* p4 = pixels[np > 4 ? 4 : 0];
  const float* p5 = pixels[np > 5 ? 5 : 0];
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  if (bias != NULL) {
    c00 = c10 = c20 = c30 = c40 = c50 = _mm256_loadu_ps(bias);
    c01 = c11 = c21 = c31 = c41 = c51 = _mm256_loadu_ps(bias + 8);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
  }
  for (size_t d = 0; d < depth; d++) {
    _mm_prefetch((const char*)(w + 384), _MM_HINT_T0);
    _mm_prefetch((const char*)(w + 2048), _MM_HINT_T1);
    if (prefetch_input) {
      // The input taps 16 steps ahead (the hardware prefetchers cannot follow the jumps
      // between channel planes); taps[] has 16 readable entries past depth.
      _mm_prefetch((const char*)(p0 + taps[d + 16]), _MM_HINT_T0);
      _mm_prefetch((const char*)(p5 + taps[d + 16]), _MM_HINT_T0);
    }
    const ptrdiff_t off = taps[d];
    const __m256 b0 = _mm256_loadu_ps(w);
    const __m256 b1 = _mm256_loadu_ps(w + 8);
    __m256 a;
    a = _mm256_broadcast_ss(p0 + off); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(p1 + off); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(p2 + off); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(p3 + off); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(p4 + off); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(p5 + off); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    w += 16;
  }
  ck_conv_6x16_finish(c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, np, out, channel_stride, nk,
                      flags, lo, hi);
}

// Two out-of-line instances (each with its own register allocation: inlined into the tile
// loop, the 12 accumulators spilled).
CK_TARGET __attribute__((noinline)) static void ck_conv_6x16_plain(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* out, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi) {
  ck_conv_6x16(depth, w, taps, pixels, np, out, channel_stride, nk, bias, flags, lo, hi, 0);
}

CK_TARGET __attribute__((noinline)) static void ck_conv_6x16_prefetch(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* out, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi) {
  ck_conv_6x16(depth, w, taps, pixels, np, out, channel_stride, nk, bias, flags, lo, hi, 1);
}

CK_TARGET void ck_f32_conv_tiles_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t col_step,
    size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk,
    const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows) {
  size_t oy = first_pixel / output_width, ox = first_pixel % output_width;
  const float* pixels[6];
  for (size_t p = 0; p < pixel_count; p += 6) {
    const size_t np = pixel_count - p < 6 ? pixel_count - p : 6;
    const size_t first_row = oy;
    for (size_t j = 0; j < np; j++) {
      pixels[j] = image + oy * row_step + ox * col_step;
      if (++ox == output_width) { ox = 0; oy++; }
    }
    const size_t last_row = ox == 0 ? oy - 1 : oy;
    size_t d0 = 0, d1 = depth;
    ck_conv_tile_taps(rows, first_row, last_row, depth, &d0, &d1);
    const float* wt = w + d0 * 16;
    const int32_t* tp = taps + d0;
    if (flags & CK_CONV_PREFETCH_INPUT) {
      ck_conv_6x16_prefetch(d1 - d0, wt, tp, pixels, np, out + first_pixel + p, channel_stride, nk, bias, flags, lo, hi);
    } else {
      ck_conv_6x16_plain(d1 - d0, wt, tp, pixels, np, out + first_pixel + p, channel_stride, nk, bias, flags, lo, hi);
    }
  }
}

// The input read in place (ck_f32_conv_rows_6x32__avx512f's contract, one 16-channel panel):
// tiles of MR (1..6) pixels within one output row, each pixel summing only its taps inside the
// image, block by block (ck_conv_tile_blocks). The per-pixel tests cost little: they are the
// same for all of a block's taps, so the branches predict well. Each output's sum is that of
// ck_conv_6x16 over the zero-padded copy without the products with padding.
#define CK_ALL(j) 1
#define CK_IN_BLOCK(j) ((blk_mask >> (j)) & 1u)
#define CK_TAP16(GUARD)                                                                                  \
  do {                                                                                                  \
    _mm_prefetch((const char*)(w + 16 * d + 384), _MM_HINT_T0);                                        \
    _mm_prefetch((const char*)(w + 16 * d + 2048), _MM_HINT_T1);                                       \
    if (PREFETCH) {                                                                                     \
      _mm_prefetch((const char*)(p0 + taps[d + 16]), _MM_HINT_T0);                                     \
      _mm_prefetch((const char*)(p5 + taps[d + 16]), _MM_HINT_T0);                                     \
    }                                                                                                   \
    const ptrdiff_t off = taps[d];                                                                      \
    const __m256 b0 = _mm256_loadu_ps(w + 16 * d);                                                      \
    const __m256 b1 = _mm256_loadu_ps(w + 16 * d + 8);                                                  \
    __m256 a;                                                                                           \
    if (GUARD(0)) { a = _mm256_broadcast_ss(p0 + off); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01); } \
    if (MR > 1 && GUARD(1)) { a = _mm256_broadcast_ss(p1 + off); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11); } \
    if (MR > 2 && GUARD(2)) { a = _mm256_broadcast_ss(p2 + off); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21); } \
    if (MR > 3 && GUARD(3)) { a = _mm256_broadcast_ss(p3 + off); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31); } \
    if (MR > 4 && GUARD(4)) { a = _mm256_broadcast_ss(p4 + off); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41); } \
    if (MR > 5 && GUARD(5)) { a = _mm256_broadcast_ss(p5 + off); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51); } \
  } while (0)

// One tile of MR pixels over taps [d0, d1) (without BLOCKED: every pixel reads all of them) or
// over the blocks' taps (w and taps then start at tap 0). The two are separate instances: with
// the blocks' loops beside it, the plain loop ran out of registers and reloaded three pixel
// pointers per tap (AVX2 runs out of load slots first).
CK_TARGET __attribute__((always_inline)) static inline void ck_conv_rows_tile_6x16(
    const int MR, const int PREFETCH, const int BLOCKED, size_t d0, size_t d1, const float* w, const int32_t* taps,
    const float* const* pixels, const ck_tap_block* blocks, size_t nblocks, float* out, size_t channel_stride,
    size_t nk, const float* bias, uint32_t flags, float lo, float hi) {
  const float* p0 = pixels[0];
  const float* p1 = pixels[MR > 1 ? 1 : 0];
  const float* p2 = pixels[MR > 2 ? 2 : 0];
  const float* p3 = pixels[MR > 3 ? 3 : 0];
  const float* p4 = pixels[MR > 4 ? 4 : 0];
  const float* p5 = pixels[MR - 1];
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  if (bias != NULL) {
    c00 = c10 = c20 = c30 = c40 = c50 = _mm256_loadu_ps(bias);
    c01 = c11 = c21 = c31 = c41 = c51 = _mm256_loadu_ps(bias + 8);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
  }
  if (!BLOCKED) {
    for (size_t d = d0; d < d1; d++) CK_TAP16(CK_ALL);
  } else {
    const uint32_t all = (1u << MR) - 1u;
    for (size_t k = 0; k < nblocks; k++) {
      const uint32_t blk_mask = blocks[k].mask;
      if ((blk_mask & all) == all) {
        for (size_t d = blocks[k].d0; d < blocks[k].d1; d++) CK_TAP16(CK_ALL);
      } else {
        for (size_t d = blocks[k].d0; d < blocks[k].d1; d++) CK_TAP16(CK_IN_BLOCK);
      }
    }
  }
  ck_conv_6x16_finish(c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, (size_t)MR, out, channel_stride,
                      nk, flags, lo, hi);
}
#undef CK_TAP16
#undef CK_ALL
#undef CK_IN_BLOCK

#define CK_ROWS_TILE_INSTANCE(NAME, MR, PREFETCH, BLOCKED)                                                \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                     \
      size_t d0, size_t d1, const float* w, const int32_t* taps, const float* const* pixels,               \
      const ck_tap_block* blocks, size_t nblocks, float* out, size_t channel_stride, size_t nk,             \
      const float* bias, uint32_t flags, float lo, float hi) {                                              \
    ck_conv_rows_tile_6x16(MR, PREFETCH, BLOCKED, d0, d1, w, taps, pixels, blocks, nblocks, out,           \
                           channel_stride, nk, bias, flags, lo, hi);                                        \
  }
#define CK_ROWS_TILE_INSTANCES(F, B)                        \
  CK_ROWS_TILE_INSTANCE(ck_rows_m1_f##F##_b##B, 1, F, B)    \
  CK_ROWS_TILE_INSTANCE(ck_rows_m2_f##F##_b##B, 2, F, B)    \
  CK_ROWS_TILE_INSTANCE(ck_rows_m3_f##F##_b##B, 3, F, B)    \
  CK_ROWS_TILE_INSTANCE(ck_rows_m4_f##F##_b##B, 4, F, B)    \
  CK_ROWS_TILE_INSTANCE(ck_rows_m5_f##F##_b##B, 5, F, B)    \
  CK_ROWS_TILE_INSTANCE(ck_rows_m6_f##F##_b##B, 6, F, B)
CK_ROWS_TILE_INSTANCES(0, 0)
CK_ROWS_TILE_INSTANCES(1, 0)
CK_ROWS_TILE_INSTANCES(0, 1)
CK_ROWS_TILE_INSTANCES(1, 1)
#undef CK_ROWS_TILE_INSTANCES
#undef CK_ROWS_TILE_INSTANCE

typedef void (*ck_rows_tile_fn)(size_t, size_t, const float*, const int32_t*, const float* const*,
                                const ck_tap_block*, size_t, float*, size_t, size_t, const float*, uint32_t, float,
                                float);
#define CK_ROWS_TILE_ROW(F, B) \
  {ck_rows_m1_f##F##_b##B, ck_rows_m2_f##F##_b##B, ck_rows_m3_f##F##_b##B, ck_rows_m4_f##F##_b##B, ck_rows_m5_f##F##_b##B, ck_rows_m6_f##F##_b##B}
// [blocked][prefetch][MR - 1]
static const ck_rows_tile_fn ck_rows_tile_kernels[2][2][6] = {{CK_ROWS_TILE_ROW(0, 0), CK_ROWS_TILE_ROW(1, 0)},
                                                              {CK_ROWS_TILE_ROW(0, 1), CK_ROWS_TILE_ROW(1, 1)}};
#undef CK_ROWS_TILE_ROW

CK_TARGET void ck_f32_conv_rows_6x16__avx2_fma(
    size_t depth, const float* w, size_t w_panel_stride, size_t panels, const int32_t* taps, const float* image,
    size_t row_step, size_t col_step, size_t output_width, size_t first_row, size_t row_count, float* out,
    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const ck_conv_rows* rows) {
  (void)w_panel_stride;
  (void)panels;
  // Each row in the fewest tiles of at most 6 pixels, of balanced sizes (a 9-pixel row as 5 + 4).
  const size_t tiles_per_row = (output_width + 5) / 6;
  const size_t small = output_width / tiles_per_row, larger = output_width % tiles_per_row;
  const ptrdiff_t origin = (ptrdiff_t)(rows->pad_top * rows->input_width + rows->pad_left);
  const int prefetch = (flags & CK_CONV_PREFETCH_INPUT) != 0;
  const float* pixels[6];
  ck_tap_block blocks[64];
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
      size_t nblocks = 0;
      int all_padding = 0;
      if (rows->skip_cols && d1 > d0) {
        nblocks = ck_conv_tile_blocks(rows, oy, 1, ox, np, d0 / rows->taps_per_row, d1 / rows->taps_per_row - 1,
                                      blocks, 64, &all_padding);
      }
      // All padding: the outputs are the bias alone (no taps).
      const size_t e = all_padding ? d0 : d1;
      ck_rows_tile_kernels[nblocks > 0][prefetch][np - 1](d0, e, w, taps, pixels, blocks, nblocks,
                                             out + oy * output_width + ox, channel_stride, nk, bias, flags, lo, hi);
      ox += np;
    }
  }
}

#else
void ck_f32_conv_rows_6x16__avx2_fma(
    size_t depth, const float* w, size_t w_panel_stride, size_t panels, const int32_t* taps, const float* image,
    size_t row_step, size_t col_step, size_t output_width, size_t first_row, size_t row_count, float* out,
    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const ck_conv_rows* rows) {
  (void)depth; (void)w; (void)w_panel_stride; (void)panels; (void)taps; (void)image; (void)row_step;
  (void)col_step; (void)output_width; (void)first_row; (void)row_count; (void)out; (void)channel_stride; (void)nk;
  (void)bias; (void)flags; (void)lo; (void)hi; (void)rows;
}
void ck_f32_conv_tiles_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t col_step,
    size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk,
    const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows) {
  (void)rows; (void)depth; (void)w; (void)taps; (void)image; (void)row_step; (void)col_step; (void)output_width;
  (void)first_pixel; (void)pixel_count; (void)out; (void)channel_stride; (void)nk; (void)bias; (void)flags;
  (void)lo; (void)hi;
}
#endif
