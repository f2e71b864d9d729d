// Direct convolution for layers with few output channels (K/g <= 12), stride 1, for AVX-512F:
// the contract of ck_f32_conv_fewk_8px__avx2_fma with up to 32 consecutive output pixels of a
// row per step (two zmm vectors, masked at the row's end: nothing is read or written past it)
// and one pair of accumulators per output channel (up to 24 of the 32 registers). Each weight
// broadcast then feeds two FMAs instead of one, which is what bounds the AVX2 kernel (one
// broadcast load per FMA). Each output's sum is the AVX2 kernel's (bias, then the taps in
// order, the prior output added before the clamp): both kernels give the same bits.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx512f")))

CK_TARGET static inline __mmask16 ck_fewk_mask(ptrdiff_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

// One step: np (1..16 * VB) pixels from p, KN channels; KN and VB are compile-time constants at
// every call, so that the accumulators live in registers.
CK_TARGET __attribute__((always_inline)) static inline void ck_fewk16_step(
    const int KN, const int VB, size_t depth, const float* w, const int32_t* taps, const float* p, size_t np,
    float* out, size_t channel_stride, size_t nk, const float* bias, int accumulate, int clamp, __m512 vlo,
    __m512 vhi) {
  __m512 acc[12][2];
  const __mmask16 m0 = ck_fewk_mask((ptrdiff_t)np), m1 = ck_fewk_mask((ptrdiff_t)np - 16);
#pragma clang loop unroll(full)
  for (int k = 0; k < KN; k++) {
    const __m512 b = bias != NULL && (size_t)k < nk ? _mm512_set1_ps(bias[k]) : _mm512_setzero_ps();
#pragma clang loop unroll(full)
    for (int v = 0; v < VB; v++) acc[k][v] = b;
  }
  for (size_t d = 0; d < depth; d++) {
    const float* q = p + taps[d];
    const __m512 x0 = _mm512_maskz_loadu_ps(m0, q);
    const __m512 x1 = VB > 1 ? _mm512_maskz_loadu_ps(m1, q + 16) : x0;
    const float* wd = w + d * 16;
#pragma clang loop unroll(full)
    for (int k = 0; k < KN; k++) {
      const __m512 wk = _mm512_set1_ps(wd[k]);
      acc[k][0] = _mm512_fmadd_ps(wk, x0, acc[k][0]);
      if (VB > 1) acc[k][1] = _mm512_fmadd_ps(wk, x1, acc[k][1]);
    }
  }
#pragma clang loop unroll(full)
  for (int k = 0; k < KN; k++) {
    if ((size_t)k >= nk) continue;
    float* o = out + k * channel_stride;
#pragma clang loop unroll(full)
    for (int v = 0; v < VB; v++) {
      const __mmask16 m = v == 0 ? m0 : m1;
      __m512 a = acc[k][v];
      if (accumulate) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, o + 16 * v));
      // max(lo, a) and min(hi, a) return a when a is NaN (the second operand wins).
      if (clamp) a = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a));
      _mm512_mask_storeu_ps(o + 16 * v, m, a);
    }
  }
}

#define CK_FEWK16_FUNCTION(NAME, KN)                                                                      \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                   \
      size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step,             \
      size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride,     \
      size_t nk, const float* bias, int accumulate, int clamp, float lo, float hi) {                      \
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);                                      \
    size_t p = first_pixel;                                                                               \
    const size_t end = first_pixel + pixel_count;                                                         \
    while (p < end) {                                                                                     \
      const size_t oy = p / output_width, ox = p % output_width;                                          \
      size_t row_end = (oy + 1) * output_width;                                                           \
      if (row_end > end) row_end = end;                                                                   \
      const size_t np = row_end - p < 32 ? row_end - p : 32;                                              \
      if (np > 16) {                                                                                      \
        ck_fewk16_step(KN, 2, depth, w, taps, image + oy * row_step + ox, np, out + p, channel_stride,    \
                       nk, bias, accumulate, clamp, vlo, vhi);                                            \
      } else {                                                                                            \
        ck_fewk16_step(KN, 1, depth, w, taps, image + oy * row_step + ox, np, out + p, channel_stride,    \
                       nk, bias, accumulate, clamp, vlo, vhi);                                            \
      }                                                                                                   \
      p += np;                                                                                            \
    }                                                                                                     \
  }
CK_FEWK16_FUNCTION(ck_fewk16_1, 1)
CK_FEWK16_FUNCTION(ck_fewk16_2, 2)
CK_FEWK16_FUNCTION(ck_fewk16_3, 3)
CK_FEWK16_FUNCTION(ck_fewk16_4, 4)
CK_FEWK16_FUNCTION(ck_fewk16_5, 5)
CK_FEWK16_FUNCTION(ck_fewk16_6, 6)
CK_FEWK16_FUNCTION(ck_fewk16_7, 7)
CK_FEWK16_FUNCTION(ck_fewk16_8, 8)
CK_FEWK16_FUNCTION(ck_fewk16_9, 9)
CK_FEWK16_FUNCTION(ck_fewk16_10, 10)
CK_FEWK16_FUNCTION(ck_fewk16_11, 11)
CK_FEWK16_FUNCTION(ck_fewk16_12, 12)
#undef CK_FEWK16_FUNCTION

typedef void (*ck_fewk16_fn)(size_t, const float*, const int32_t*, const float*, size_t, size_t, size_t, size_t,
                             float*, size_t, size_t, const float*, int, int, float, float);

CK_TARGET void ck_f32_conv_fewk_32px__avx512f(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t output_width,
    size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk, const float* bias,
    uint32_t flags, float lo, float hi) {
  static const ck_fewk16_fn kernels[12] = {ck_fewk16_1, ck_fewk16_2, ck_fewk16_3, ck_fewk16_4,
                                           ck_fewk16_5, ck_fewk16_6, ck_fewk16_7, ck_fewk16_8,
                                           ck_fewk16_9, ck_fewk16_10, ck_fewk16_11, ck_fewk16_12};
  if (nk < 1) return;
  const int accumulate = (flags & CK_CONV_ACCUMULATE) != 0, clamp = (flags & CK_GEMM_CLAMP) != 0;
  kernels[(nk > 12 ? 12 : nk) - 1](depth, w, taps, image, row_step, output_width, first_pixel, pixel_count, out,
                                   channel_stride, nk, bias, accumulate, clamp, lo, hi);
}

#else
void ck_f32_conv_fewk_32px__avx512f(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t output_width,
    size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk, const float* bias,
    uint32_t flags, float lo, float hi) {
  (void)depth; (void)w; (void)taps; (void)image; (void)row_step; (void)output_width; (void)first_pixel;
  (void)pixel_count; (void)out; (void)channel_stride; (void)nk; (void)bias; (void)flags; (void)lo; (void)hi;
}
#endif
