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

#else
void ck_f32_conv_tiles_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t col_step,
    size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk,
    const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows) {
  (void)rows; (void)depth; (void)w; (void)taps; (void)image; (void)row_step; (void)col_step; (void)output_width;
  (void)first_pixel; (void)pixel_count; (void)out; (void)channel_stride; (void)nk; (void)bias; (void)flags;
  (void)lo; (void)hi;
}
#endif
