// Depthwise convolution row kernel for AVX2 + FMA: 16 outputs per step in 2 accumulators,
// every tap broadcast once per step.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma")))
void ck_f32_dwconv_row_ukernel__avx2_fma(
    size_t count, size_t kh, size_t kw, const float* x, size_t x_row_stride,
    size_t stride, size_t dilation, const float* w, float* y) {
  size_t j = 0;
  if (stride == 1) {
    for (; j + 16 <= count; j += 16) {
      __m256 a0 = _mm256_loadu_ps(y + j), a1 = _mm256_loadu_ps(y + j + 8);
      for (size_t r = 0; r < kh; r++) {
        const float* xr = x + r * x_row_stride + j;
        for (size_t s = 0; s < kw; s++) {
          const __m256 wv = _mm256_broadcast_ss(w + r * kw + s);
          a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xr + s * dilation), a0);
          a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xr + s * dilation + 8), a1);
        }
      }
      _mm256_storeu_ps(y + j, a0);
      _mm256_storeu_ps(y + j + 8, a1);
    }
    for (; j + 8 <= count; j += 8) {
      __m256 a0 = _mm256_loadu_ps(y + j);
      for (size_t r = 0; r < kh; r++) {
        const float* xr = x + r * x_row_stride + j;
        for (size_t s = 0; s < kw; s++) {
          a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + r * kw + s), _mm256_loadu_ps(xr + s * dilation), a0);
        }
      }
      _mm256_storeu_ps(y + j, a0);
    }
  } else {
    const __m256i step = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                            _mm256_set1_epi32((int)stride));
    for (; j + 8 <= count; j += 8) {
      __m256 a0 = _mm256_loadu_ps(y + j);
      for (size_t r = 0; r < kh; r++) {
        const float* xr = x + r * x_row_stride + j * stride;
        for (size_t s = 0; s < kw; s++) {
          const __m256 xv = _mm256_i32gather_ps(xr + s * dilation, step, 4);
          a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + r * kw + s), xv, a0);
        }
      }
      _mm256_storeu_ps(y + j, a0);
    }
  }
  for (; j < count; j++) {
    float acc = y[j];
    for (size_t r = 0; r < kh; r++) {
      const float* xr = x + r * x_row_stride + j * stride;
      for (size_t s = 0; s < kw; s++) acc = __builtin_fmaf(w[r * kw + s], xr[s * dilation], acc);
    }
    y[j] = acc;
  }
}

#else
void ck_f32_dwconv_row_ukernel__avx2_fma(
    size_t count, size_t kh, size_t kw, const float* x, size_t x_row_stride,
    size_t stride, size_t dilation, const float* w, float* y) {
  (void)count; (void)kh; (void)kw; (void)x; (void)x_row_stride; (void)stride; (void)dilation; (void)w; (void)y;
}
#endif
