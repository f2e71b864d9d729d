// Measures f32 FMA throughput: 12 independent ymm accumulators hide the FMA latency.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma")))
float ck_f32_fma_peak_probe__avx2_fma(size_t iterations) {
  __m256 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f + 0.001f * (float)i);
  const __m256 m = _mm256_set1_ps(0.999999f);
  const __m256 c = _mm256_set1_ps(1e-7f);
  for (size_t it = 0; it < iterations; it++) {
    for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
  }
  __m256 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}
#else
float ck_f32_fma_peak_probe__avx2_fma(size_t iterations) { (void)iterations; return 0.0f; }
#endif
