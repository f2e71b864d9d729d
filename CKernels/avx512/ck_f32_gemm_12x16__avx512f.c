// 12x16 f32 GEMM micro-kernel for AVX-512F: 12 zmm accumulators (12 rows x 1 vector of 16
// columns), the rows from two of the AVX2 kernel's 6-row A panels (a and a + a_panel_stride),
// 1 B load and 12 A broadcasts per k step. For the Winograd products, whose blocks of 16 tiles
// are one B panel wide (the 6x32 pair never applies there). Each output's sum is the 6x16
// kernel's, in the same order (zero, then the k products, then C or the bias added), so the two
// kernels agree bit for bit.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx512f")))

CK_TARGET void ck_f32_gemm_ukernel_12x16__avx512f(
    size_t kc, const float* a, size_t a_panel_stride, const float* b, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi) {
  for (size_t i = 0; i < mr; i++) _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
  const float* a1 = mr > 6 ? a + a_panel_stride : a;  // rows 6-11 (unused when mr <= 6)
  __m512 c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11;
  c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = c8 = c9 = c10 = c11 = _mm512_setzero_ps();
  for (size_t k = 0; k < kc; k++) {
    _mm_prefetch((const char*)(a + 384), _MM_HINT_T0);
    _mm_prefetch((const char*)(a1 + 384), _MM_HINT_T0);
    const __m512 bv = _mm512_loadu_ps(b);
    c0 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), bv, c0);
    c1 = _mm512_fmadd_ps(_mm512_set1_ps(a[1]), bv, c1);
    c2 = _mm512_fmadd_ps(_mm512_set1_ps(a[2]), bv, c2);
    c3 = _mm512_fmadd_ps(_mm512_set1_ps(a[3]), bv, c3);
    c4 = _mm512_fmadd_ps(_mm512_set1_ps(a[4]), bv, c4);
    c5 = _mm512_fmadd_ps(_mm512_set1_ps(a[5]), bv, c5);
    c6 = _mm512_fmadd_ps(_mm512_set1_ps(a1[0]), bv, c6);
    c7 = _mm512_fmadd_ps(_mm512_set1_ps(a1[1]), bv, c7);
    c8 = _mm512_fmadd_ps(_mm512_set1_ps(a1[2]), bv, c8);
    c9 = _mm512_fmadd_ps(_mm512_set1_ps(a1[3]), bv, c9);
    c10 = _mm512_fmadd_ps(_mm512_set1_ps(a1[4]), bv, c10);
    c11 = _mm512_fmadd_ps(_mm512_set1_ps(a1[5]), bv, c11);
    a += CK_GEMM_MR;
    a1 += CK_GEMM_MR;
    b += CK_GEMM_NR;
  }
  const __mmask16 m = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m512 acc[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
  for (size_t i = 0; i < mr; i++) {
    float* row = c + i * ldc;
    __m512 v = acc[i];
    if (flags & CK_GEMM_ACCUMULATE) {
      v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, row));
    } else if (bias != NULL) {
      v = _mm512_add_ps(_mm512_set1_ps(bias[i]), v);
    }
    // max(lo, v) and min(hi, v) return v when v is NaN (the second operand wins).
    if (flags & CK_GEMM_CLAMP) v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v));
    _mm512_mask_storeu_ps(row, m, v);
  }
}

#else
void ck_f32_gemm_ukernel_12x16__avx512f(
    size_t kc, const float* a, size_t a_panel_stride, const float* b, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi) {
  (void)kc; (void)a; (void)a_panel_stride; (void)b; (void)c; (void)ldc; (void)mr; (void)nr; (void)flags;
  (void)bias; (void)lo; (void)hi;
}
#endif
