// Lane masks and unchecked addresses for the AVX-512F kernels that read planes in place with
// masked loads (internal header, not part of the module).
#ifndef CK_AVX512_MASK_H
#define CK_AVX512_MASK_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

// Lanes [first, end) of a vector, clamped to 0 .. 16 (none when end <= first).
__attribute__((target("avx512f"))) static inline __mmask16 ck_lane_span(ptrdiff_t first, ptrdiff_t end) {
  if (first < 0) first = 0;
  if (end > 16) end = 16;
  if (end <= first) return (__mmask16)0;
  return (__mmask16)(((1u << end) - 1u) & ~((1u << first) - 1u));
}

// The address of element c of a row (c may be negative, or the row outside its plane): computed
// as an integer, and only dereferenced by masked loads whose active lanes are inside the plane
// (masked-off lanes are not accessed, so they cannot fault).
static inline const float* ck_unchecked_at(const float* row, ptrdiff_t c) {
  return (const float*)((uintptr_t)row + (uintptr_t)(c * (ptrdiff_t)sizeof(float)));
}
#endif
#endif
