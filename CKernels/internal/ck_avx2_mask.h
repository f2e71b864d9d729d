// Shared AVX2 lane masks for the CKernels sources (internal header, not part of the module).
#ifndef CK_AVX2_MASK_H
#define CK_AVX2_MASK_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>

// Lanes [0, n) set, n in [0, 8] (for vmaskmovps loads and stores).
__attribute__((target("avx2"), always_inline)) static inline __m256i ck_lane_mask8(size_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), idx);
}
#endif

#endif
