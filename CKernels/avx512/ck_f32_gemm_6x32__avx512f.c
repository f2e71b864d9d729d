// 6x32 f32 GEMM micro-kernel for AVX-512F: 12 zmm accumulators (6 rows x 2 vectors of 16), the
// columns from two of the AVX2 kernel's 16-column B panels (b and b + b_panel_stride), 2 B
// loads and 6 A broadcasts per k step. Each output's sum is the 6x16 kernel's, in the same order
// (zero, then the k products, then C or the bias added), so the two kernels agree bit for bit.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx512f")))

CK_TARGET void ck_f32_gemm_ukernel_6x32__avx512f(
    size_t kc, const float* a, const float* b, size_t b_panel_stride, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi) {
  for (size_t i = 0; i < mr; i++) {
    _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + i * ldc + 31), _MM_HINT_T0);
  }
  const float* b1p = nr > 16 ? b + b_panel_stride : b;  // columns 16-31 (unused when nr <= 16)
  __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm512_setzero_ps();
  for (size_t k = 0; k < kc; k++) {
    _mm_prefetch((const char*)(a + 384), _MM_HINT_T0);
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b1p);
    __m512 av;
    av = _mm512_set1_ps(a[0]); c00 = _mm512_fmadd_ps(av, b0, c00); c01 = _mm512_fmadd_ps(av, b1, c01);
    av = _mm512_set1_ps(a[1]); c10 = _mm512_fmadd_ps(av, b0, c10); c11 = _mm512_fmadd_ps(av, b1, c11);
    av = _mm512_set1_ps(a[2]); c20 = _mm512_fmadd_ps(av, b0, c20); c21 = _mm512_fmadd_ps(av, b1, c21);
    av = _mm512_set1_ps(a[3]); c30 = _mm512_fmadd_ps(av, b0, c30); c31 = _mm512_fmadd_ps(av, b1, c31);
    av = _mm512_set1_ps(a[4]); c40 = _mm512_fmadd_ps(av, b0, c40); c41 = _mm512_fmadd_ps(av, b1, c41);
    av = _mm512_set1_ps(a[5]); c50 = _mm512_fmadd_ps(av, b0, c50); c51 = _mm512_fmadd_ps(av, b1, c51);
    a += CK_GEMM_MR;
    b += CK_GEMM_NR;
    b1p += CK_GEMM_NR;
  }
  const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
  const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : 0;
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m512 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (size_t i = 0; i < mr; i++) {
    float* row = c + i * ldc;
    __m512 v0 = acc[i][0], v1 = acc[i][1];
    if (flags & CK_GEMM_ACCUMULATE) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
    } else if (bias != NULL) {
      const __m512 bv = _mm512_set1_ps(bias[i]);
      v0 = _mm512_add_ps(bv, v0);
      v1 = _mm512_add_ps(bv, v1);
    }
    if (flags & CK_GEMM_CLAMP) {
      // max(lo, v) and min(hi, v) return v when v is NaN (the second operand wins).
      v0 = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v0));
      v1 = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v1));
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

#else
void ck_f32_gemm_ukernel_6x32__avx512f(
    size_t kc, const float* a, const float* b, size_t b_panel_stride, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi) {
  (void)kc; (void)a; (void)b; (void)b_panel_stride; (void)c; (void)ldc; (void)mr; (void)nr; (void)flags;
  (void)bias; (void)lo; (void)hi;
}
#endif
