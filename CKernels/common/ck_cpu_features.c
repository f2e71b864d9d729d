#include "ck_kernels.h"

uint32_t ck_cpu_features(void) {
  uint32_t f = 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse2")) f |= CK_CPU_SSE2;
  if (__builtin_cpu_supports("avx")) f |= CK_CPU_AVX;
  if (__builtin_cpu_supports("avx2")) f |= CK_CPU_AVX2;
  if (__builtin_cpu_supports("fma")) f |= CK_CPU_FMA;
  if (__builtin_cpu_supports("f16c")) f |= CK_CPU_F16C;
  if (__builtin_cpu_supports("avx512f")) f |= CK_CPU_AVX512F;
#endif
  return f;
}
