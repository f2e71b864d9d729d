// Fully connected micro-kernel for AVX2 + FMA: up to 4 outputs x 3 samples of dot products over
// the input features, vectorised along the features (weights [out][in] and inputs [N][in] both
// row-major, read in place: no packing, so a batch-1 layer streams its weights once at memory
// speed). 12 ymm accumulators; every (output, sample) sum is computed by the same operations
// whatever the tile it falls in, so results do not depend on the batch or the thread split.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx2,fma")))

CK_TARGET static inline float ck_hsum(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}

CK_TARGET void ck_f32_fc_ukernel_4x3__avx2_fma(
    size_t k, const float* w, size_t ldw, size_t nw, const float* x, size_t ldx, size_t nx, float* y, size_t ldy,
    const float* bias, uint32_t flags, float lo, float hi) {
  // Rows past nw and samples past nx repeat the last valid one (computed, not stored).
  const float* w0 = w;
  const float* w1 = w + (nw > 1 ? 1 : 0) * ldw;
  const float* w2 = w + (nw > 2 ? 2 : nw - 1) * ldw;
  const float* w3 = w + (nw > 3 ? 3 : nw - 1) * ldw;
  const float* x0 = x;
  const float* x1 = x + (nx > 1 ? 1 : 0) * ldx;
  const float* x2 = x + (nx > 2 ? 2 : nx - 1) * ldx;
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
  __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
  size_t i = 0;
#define CK_FC_STEP(LOAD)                                                                          \
  {                                                                                               \
    const __m256 v0 = LOAD(x0 + i), v1 = LOAD(x1 + i), v2 = LOAD(x2 + i);                        \
    __m256 q;                                                                                     \
    q = LOAD(w0 + i); a00 = _mm256_fmadd_ps(q, v0, a00); a01 = _mm256_fmadd_ps(q, v1, a01); a02 = _mm256_fmadd_ps(q, v2, a02); \
    q = LOAD(w1 + i); a10 = _mm256_fmadd_ps(q, v0, a10); a11 = _mm256_fmadd_ps(q, v1, a11); a12 = _mm256_fmadd_ps(q, v2, a12); \
    q = LOAD(w2 + i); a20 = _mm256_fmadd_ps(q, v0, a20); a21 = _mm256_fmadd_ps(q, v1, a21); a22 = _mm256_fmadd_ps(q, v2, a22); \
    q = LOAD(w3 + i); a30 = _mm256_fmadd_ps(q, v0, a30); a31 = _mm256_fmadd_ps(q, v1, a31); a32 = _mm256_fmadd_ps(q, v2, a32); \
  }
  for (; i + 8 <= k; i += 8) {
    _mm_prefetch((const char*)(w0 + i + 256), _MM_HINT_T0);
    _mm_prefetch((const char*)(w1 + i + 256), _MM_HINT_T0);
    _mm_prefetch((const char*)(w2 + i + 256), _MM_HINT_T0);
    _mm_prefetch((const char*)(w3 + i + 256), _MM_HINT_T0);
    CK_FC_STEP(_mm256_loadu_ps)
  }
  if (i < k) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#define CK_MASKED(p) _mm256_maskload_ps((p), m)
    CK_FC_STEP(CK_MASKED)
#undef CK_MASKED
  }
#undef CK_FC_STEP
  const float s[4][3] = {{ck_hsum(a00), ck_hsum(a01), ck_hsum(a02)}, {ck_hsum(a10), ck_hsum(a11), ck_hsum(a12)},
                         {ck_hsum(a20), ck_hsum(a21), ck_hsum(a22)}, {ck_hsum(a30), ck_hsum(a31), ck_hsum(a32)}};
  for (size_t o = 0; o < nw; o++) {
    for (size_t n = 0; n < nx; n++) {
      float v = s[o][n] + (bias != NULL ? bias[o] : 0.0f);
      // v < lo and v > hi are false for NaN: NaN propagates.
      if (flags & CK_GEMM_CLAMP) { v = v < lo ? lo : v; v = v > hi ? hi : v; }
      y[n * ldy + o] = v;
    }
  }
}

// One sample, 8 outputs: the batch-1 GEMV. Eight weight rows stream at once (twice the
// 4x3 tile's), which keeps more cache-line fills in flight when the weights come from DRAM, and
// no sample is computed twice. Each sum's operations are the 4x3 kernel's (8 lanes accumulated
// in order of i, the same masked tail, the same horizontal sum), so a sample's outputs do not
// depend on the kernel that computed them.
CK_TARGET void ck_f32_fc_ukernel_8x1__avx2_fma(
    size_t k, const float* w, size_t ldw, size_t nw, const float* x, float* y,
    const float* bias, uint32_t flags, float lo, float hi) {
  const float* r[8];
  for (size_t o = 0; o < 8; o++) r[o] = w + (o < nw ? o : nw - 1) * ldw;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  size_t i = 0;
#define CK_GEMV_STEP(LOAD)                                                                          \
  {                                                                                               \
    const __m256 v = LOAD(x + i);                                                                 \
    a0 = _mm256_fmadd_ps(LOAD(r[0] + i), v, a0); a1 = _mm256_fmadd_ps(LOAD(r[1] + i), v, a1);     \
    a2 = _mm256_fmadd_ps(LOAD(r[2] + i), v, a2); a3 = _mm256_fmadd_ps(LOAD(r[3] + i), v, a3);     \
    a4 = _mm256_fmadd_ps(LOAD(r[4] + i), v, a4); a5 = _mm256_fmadd_ps(LOAD(r[5] + i), v, a5);     \
    a6 = _mm256_fmadd_ps(LOAD(r[6] + i), v, a6); a7 = _mm256_fmadd_ps(LOAD(r[7] + i), v, a7);     \
  }
  for (; i + 8 <= k; i += 8) {
    if ((i & 15) == 0) {
#pragma clang loop unroll(full)
      for (size_t o = 0; o < 8; o++) _mm_prefetch((const char*)(r[o] + i + 256), _MM_HINT_T0);
    }
    CK_GEMV_STEP(_mm256_loadu_ps)
  }
  if (i < k) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#define CK_MASKED(p) _mm256_maskload_ps((p), m)
    CK_GEMV_STEP(CK_MASKED)
#undef CK_MASKED
  }
#undef CK_GEMV_STEP
  const float s[8] = {ck_hsum(a0), ck_hsum(a1), ck_hsum(a2), ck_hsum(a3),
                      ck_hsum(a4), ck_hsum(a5), ck_hsum(a6), ck_hsum(a7)};
  for (size_t o = 0; o < nw; o++) {
    float v = s[o] + (bias != NULL ? bias[o] : 0.0f);
    // v < lo and v > hi are false for NaN: NaN propagates.
    if (flags & CK_GEMM_CLAMP) { v = v < lo ? lo : v; v = v > hi ? hi : v; }
    y[o] = v;
  }
}

#else
void ck_f32_fc_ukernel_4x3__avx2_fma(
    size_t k, const float* w, size_t ldw, size_t nw, const float* x, size_t ldx, size_t nx, float* y, size_t ldy,
    const float* bias, uint32_t flags, float lo, float hi) {
  (void)k; (void)w; (void)ldw; (void)nw; (void)x; (void)ldx; (void)nx; (void)y; (void)ldy; (void)bias; (void)flags;
  (void)lo; (void)hi;
}
void ck_f32_fc_ukernel_8x1__avx2_fma(
    size_t k, const float* w, size_t ldw, size_t nw, const float* x, float* y,
    const float* bias, uint32_t flags, float lo, float hi) {
  (void)k; (void)w; (void)ldw; (void)nw; (void)x; (void)y; (void)bias; (void)flags; (void)lo; (void)hi;
}
#endif
