// Shared AVX2 transposes for the CKernels sources (internal header, not part of the module).
#ifndef CK_AVX2_TRANSPOSE_H
#define CK_AVX2_TRANSPOSE_H

#if defined(__x86_64__)
#include <immintrin.h>

// 8x8 transpose in registers: r[i][j] -> r[j][i].
__attribute__((target("avx2,fma"), always_inline)) static inline void ck_transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  // u_i = [rows 0-3 of column i | rows 0-3 of column i + 4], u_{i+4} the same for rows 4-7.
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// 8x8 transpose of the rows p + offsets[t] (8 floats each): out[l] = column l, lane t = row t.
__attribute__((target("avx2,fma"), always_inline)) static inline void ck_transpose_rows8x8(
    const float* p, const int32_t* offsets, __m256 out[8]) {
  for (int t = 0; t < 8; t++) out[t] = _mm256_loadu_ps(p + offsets[t]);
  ck_transpose8x8(out);
}

// First half of a 6-row transpose: rows r_j (j < 6, 8 floats) into u[i] = [rows 0-3 of column i
// | rows 0-3 of column i + 4] and u[i + 4] = [rows 4-5 of column i, 0, 0 | the same for
// column i + 4], for i < 4.
__attribute__((target("avx2,fma"), always_inline)) static inline void ck_transpose6_halves(
    __m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5, __m256 u[8]) {
  const __m256 z = _mm256_setzero_ps();
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  u[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  u[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  u[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  u[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  u[4] = _mm256_shuffle_ps(t4, z, _MM_SHUFFLE(1, 0, 1, 0));
  u[5] = _mm256_shuffle_ps(t4, z, _MM_SHUFFLE(3, 2, 3, 2));
  u[6] = _mm256_shuffle_ps(t5, z, _MM_SHUFFLE(1, 0, 1, 0));
  u[7] = _mm256_shuffle_ps(t5, z, _MM_SHUFFLE(3, 2, 3, 2));
}
#endif
#endif
