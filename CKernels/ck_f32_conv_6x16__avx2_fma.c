// Indirect direct-convolution micro-kernel for AVX2 + FMA: 6 output pixels x 16 output
// channels, 12 ymm accumulators (the pixel is broadcast, the output channels are the vector).
//
// The input is read in place (NCHW, or a zero-padded copy of it): pixel j's taps are
// pixels[j][taps[d]], so any stride and dilation need no packing, and a tap is never read
// past its own element (scalar broadcasts, no vector over-read).
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx2,fma")))

CK_TARGET void ck_f32_conv_ukernel_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* const* outputs, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi) {
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
  if (flags & CK_GEMM_CLAMP) {
    // max(lo, x) and min(hi, x) return x when x is NaN (the second operand wins).
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
#define CK_CLAMP(v) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v))
    CK_CLAMP(c00); CK_CLAMP(c01); CK_CLAMP(c10); CK_CLAMP(c11); CK_CLAMP(c20); CK_CLAMP(c21);
    CK_CLAMP(c30); CK_CLAMP(c31); CK_CLAMP(c40); CK_CLAMP(c41); CK_CLAMP(c50); CK_CLAMP(c51);
#undef CK_CLAMP
  }
  // Transpose-free store: each accumulator row is one pixel's 16 channels, which go to 16
  // output planes (channel_stride apart).
  float tile[6][16] __attribute__((aligned(32)));
  _mm256_store_ps(tile[0], c00); _mm256_store_ps(tile[0] + 8, c01);
  _mm256_store_ps(tile[1], c10); _mm256_store_ps(tile[1] + 8, c11);
  _mm256_store_ps(tile[2], c20); _mm256_store_ps(tile[2] + 8, c21);
  _mm256_store_ps(tile[3], c30); _mm256_store_ps(tile[3] + 8, c31);
  _mm256_store_ps(tile[4], c40); _mm256_store_ps(tile[4] + 8, c41);
  _mm256_store_ps(tile[5], c50); _mm256_store_ps(tile[5] + 8, c51);
  for (size_t j = 0; j < np; j++) {
    float* out = outputs[j];
    for (size_t i = 0; i < nk; i++) out[i * channel_stride] = tile[j][i];
  }
}

#else
void ck_f32_conv_ukernel_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* const* outputs, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi) {
  (void)depth; (void)w; (void)taps; (void)pixels; (void)np; (void)outputs; (void)channel_stride; (void)nk;
  (void)bias; (void)flags; (void)lo; (void)hi;
}
#endif
