// 6x16 f32 GEMM micro-kernel for AVX2 + FMA: 12 ymm accumulators (6 rows x 2 vectors of 8),
// 2 B loads and 6 A broadcasts per k step, as BLIS' Haswell sgemm kernel does.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx2_mask.h"

#define CK_TARGET __attribute__((target("avx2,fma")))

CK_TARGET void ck_f32_gemm_ukernel_6x16__avx2_fma(
    size_t kc, const float* a, const float* b, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi) {
  // Fetch the C tile while the products are computed (it is read or written at the end).
  for (size_t i = 0; i < mr; i++) {
    _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + i * ldc + CK_GEMM_NR - 1), _MM_HINT_T0);
  }
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();

  for (size_t k = 0; k < kc; k++) {
    _mm_prefetch((const char*)(a + 384), _MM_HINT_T0); _mm_prefetch((const char*)(a + 2048), _MM_HINT_T1);
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 av;
    av = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
    a += CK_GEMM_MR;
    b += CK_GEMM_NR;
  }

  const __m256 vlo0 = _mm256_set1_ps(lo);
  const __m256 vhi0 = _mm256_set1_ps(hi);
  if (mr == CK_GEMM_MR && nr == CK_GEMM_NR) {
    // Full tile: straight-line epilogue, accumulators stay in registers.
#define CK_STORE_ROW(i, v0, v1)                                                     \
    do {                                                                            \
      float* row = c + (i) * ldc;                                                   \
      __m256 a0 = (v0), a1 = (v1);                                                  \
      if (flags & CK_GEMM_ACCUMULATE) {                                             \
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(row));                               \
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(row + 8));                           \
      } else if (bias != NULL) {                                                    \
        const __m256 bv = _mm256_broadcast_ss(bias + (i));                          \
        a0 = _mm256_add_ps(bv, a0);                                                 \
        a1 = _mm256_add_ps(bv, a1);                                                 \
      }                                                                             \
      if (flags & CK_GEMM_CLAMP) {                                                  \
        a0 = _mm256_min_ps(vhi0, _mm256_max_ps(vlo0, a0));                          \
        a1 = _mm256_min_ps(vhi0, _mm256_max_ps(vlo0, a1));                          \
      }                                                                             \
      _mm256_storeu_ps(row, a0);                                                    \
      _mm256_storeu_ps(row + 8, a1);                                                \
    } while (0)
    CK_STORE_ROW(0, c00, c01);
    CK_STORE_ROW(1, c10, c11);
    CK_STORE_ROW(2, c20, c21);
    CK_STORE_ROW(3, c30, c31);
    CK_STORE_ROW(4, c40, c41);
    CK_STORE_ROW(5, c50, c51);
#undef CK_STORE_ROW
    return;
  }

  __m256 acc[CK_GEMM_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  const __m256 vlo = _mm256_set1_ps(lo);
  const __m256 vhi = _mm256_set1_ps(hi);
  const int full = nr == CK_GEMM_NR;
  const __m256i m0 = ck_lane_mask8(nr < 8 ? nr : 8);
  const __m256i m1 = ck_lane_mask8(nr > 8 ? nr - 8 : 0);
  for (size_t i = 0; i < mr; i++) {
    float* row = c + i * ldc;
    __m256 v0 = acc[i][0], v1 = acc[i][1];
    if (flags & CK_GEMM_ACCUMULATE) {
      if (full) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(row));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(row + 8));
      } else {
        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(row, m0));
        v1 = _mm256_add_ps(v1, _mm256_maskload_ps(row + 8, m1));
      }
    } else if (bias != NULL) {
      const __m256 bv = _mm256_broadcast_ss(bias + i);
      v0 = _mm256_add_ps(bv, v0);
      v1 = _mm256_add_ps(bv, v1);
    }
    if (flags & CK_GEMM_CLAMP) {
      // max(lo, v) and min(hi, v) return v when v is NaN (the second operand wins).
      v0 = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v0));
      v1 = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v1));
    }
    if (full) {
      _mm256_storeu_ps(row, v0);
      _mm256_storeu_ps(row + 8, v1);
    } else {
      _mm256_maskstore_ps(row, m0, v0);
      _mm256_maskstore_ps(row + 8, m1, v1);
    }
  }
}

#else
// Non-x86 builds never dispatch here (KernelISA.best is portable); keep the symbol defined.
void ck_f32_gemm_ukernel_6x16__avx2_fma(
    size_t kc, const float* a, const float* b, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi) {
  (void)kc; (void)a; (void)b; (void)c; (void)ldc; (void)mr; (void)nr; (void)flags; (void)bias; (void)lo; (void)hi;
}
#endif
