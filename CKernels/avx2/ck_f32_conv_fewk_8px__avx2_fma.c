// Direct convolution for layers with few output channels (K/g <= 12), stride 1, for AVX2 +
// FMA: 8 consecutive output pixels of a row are the vector and every output channel has its
// own accumulator (up to 12), so each tap costs one input load (read in place from the
// zero-padded plane) and one weight broadcast per channel. The indirect kernel, whose vector
// is 16 output channels, wastes most of its lanes on such layers (10 of 16 on the course's
// 3x32x32 -> 10 5x5 layer) and pays a transposing store per 6 pixels.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx2_mask.h"

#define CK_TARGET __attribute__((target("avx2,fma")))

// One step: np (1..8) pixels from p (the first pixel's taps base), KN accumulators. KN and
// full (np == 8: no masks, which would take the registers of 3 accumulators) are compile-time
// constants at every call, so that the accumulators live in registers.
CK_TARGET __attribute__((always_inline)) static inline void ck_fewk_step(
    const size_t KN, const int full, size_t depth, const float* w, const int32_t* taps, const float* p, size_t np, float* out,
    size_t channel_stride, size_t nk, const float* bias, int accumulate, int clamp, __m256 vlo, __m256 vhi) {
  __m256 acc[12];
  const __m256i m = ck_lane_mask8(np);
#pragma clang loop unroll(full)
  for (size_t k = 0; k < KN; k++) acc[k] = bias != NULL && k < nk ? _mm256_broadcast_ss(bias + k) : _mm256_setzero_ps();
  for (size_t d = 0; d < depth; d++) {
    const float* q = p + taps[d];
    // Lanes past np are never stored; masked loads keep them from reading past the plane.
    const __m256 x = full ? _mm256_loadu_ps(q) : _mm256_maskload_ps(q, m);
    const float* wd = w + d * 16;
#pragma clang loop unroll(full)
    for (size_t k = 0; k < KN; k++) acc[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(wd + k), x, acc[k]);
  }
#pragma clang loop unroll(full)
  for (size_t k = 0; k < KN; k++) {
    if (k < nk) {
      float* o = out + k * channel_stride;
      __m256 v = acc[k];
      if (accumulate) v = _mm256_add_ps(v, full ? _mm256_loadu_ps(o) : _mm256_maskload_ps(o, m));
      // max(lo, v) and min(hi, v) return v when v is NaN (the second operand wins).
      if (clamp) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v));
      if (full) {
        _mm256_storeu_ps(o, v);
      } else {
        float t[8];
        _mm256_storeu_ps(t, v);
        for (size_t j = 0; j < np; j++) o[j] = t[j];
      }
    }
  }
}

#define CK_FEWK_FUNCTION(NAME, KN)                                                                        \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                   \
      size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step,             \
      size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride,     \
      size_t nk, const float* bias, int accumulate, int clamp, float lo, float hi) {                      \
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);                                      \
    size_t p = first_pixel;                                                                               \
    const size_t end = first_pixel + pixel_count;                                                         \
    while (p < end) {                                                                                     \
      const size_t oy = p / output_width, ox = p % output_width;                                          \
      size_t row_end = (oy + 1) * output_width;                                                           \
      if (row_end > end) row_end = end;                                                                   \
      const size_t np = row_end - p < 8 ? row_end - p : 8;                                                \
      if (np == 8) {                                                                                      \
        ck_fewk_step(KN, 1, depth, w, taps, image + oy * row_step + ox, 8, out + p, channel_stride, nk,   \
                     bias, accumulate, clamp, vlo, vhi);                                                  \
      } else {                                                                                            \
        ck_fewk_step(KN, 0, depth, w, taps, image + oy * row_step + ox, np, out + p, channel_stride, nk,  \
                     bias, accumulate, clamp, vlo, vhi);                                                  \
      }                                                                                                   \
      p += np;                                                                                            \
    }                                                                                                     \
  }
CK_FEWK_FUNCTION(ck_fewk_1, 1)
CK_FEWK_FUNCTION(ck_fewk_2, 2)
CK_FEWK_FUNCTION(ck_fewk_3, 3)
CK_FEWK_FUNCTION(ck_fewk_4, 4)
CK_FEWK_FUNCTION(ck_fewk_5, 5)
CK_FEWK_FUNCTION(ck_fewk_6, 6)
CK_FEWK_FUNCTION(ck_fewk_7, 7)
CK_FEWK_FUNCTION(ck_fewk_8, 8)
CK_FEWK_FUNCTION(ck_fewk_9, 9)
CK_FEWK_FUNCTION(ck_fewk_10, 10)
CK_FEWK_FUNCTION(ck_fewk_11, 11)
CK_FEWK_FUNCTION(ck_fewk_12, 12)
#undef CK_FEWK_FUNCTION

typedef void (*ck_fewk_fn)(size_t, const float*, const int32_t*, const float*, size_t, size_t, size_t, size_t, float*,
                           size_t, size_t, const float*, int, int, float, float);

// One instance per channel count, so that no accumulator is computed for nothing.
CK_TARGET void ck_f32_conv_fewk_8px__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t output_width,
    size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk, const float* bias,
    uint32_t flags, float lo, float hi) {
  static const ck_fewk_fn kernels[12] = {ck_fewk_1, ck_fewk_2, ck_fewk_3, ck_fewk_4,  ck_fewk_5,  ck_fewk_6,
                                         ck_fewk_7, ck_fewk_8, ck_fewk_9, ck_fewk_10, ck_fewk_11, ck_fewk_12};
  if (nk < 1) return;
  const int accumulate = (flags & CK_CONV_ACCUMULATE) != 0, clamp = (flags & CK_GEMM_CLAMP) != 0;
  kernels[(nk > 12 ? 12 : nk) - 1](depth, w, taps, image, row_step, output_width, first_pixel, pixel_count, out,
                                   channel_stride, nk, bias, accumulate, clamp, lo, hi);
}

#else
void ck_f32_conv_fewk_8px__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t output_width,
    size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk, const float* bias,
    uint32_t flags, float lo, float hi) {
  (void)depth; (void)w; (void)taps; (void)image; (void)row_step; (void)output_width; (void)first_pixel;
  (void)pixel_count; (void)out; (void)channel_stride; (void)nk; (void)bias; (void)flags; (void)lo; (void)hi;
}
#endif
