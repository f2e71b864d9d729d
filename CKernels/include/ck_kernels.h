// CKernels: ConvKit's FMA-bound micro-kernels and CPU feature detection.
//
// Naming: ck_<dtype>_<op>_ukernel_<tile>__<isa>. Micro-kernels never allocate,
// never start threads and only touch the memory they are given.
#ifndef CK_KERNELS_H
#define CK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- CPU features (ck_cpu_features.c) ----
// Bits of ck_cpu_features().
#define CK_CPU_SSE2 (1u << 0)
#define CK_CPU_AVX (1u << 1)
#define CK_CPU_AVX2 (1u << 2)
#define CK_CPU_FMA (1u << 3)
#define CK_CPU_F16C (1u << 4)
#define CK_CPU_AVX512F (1u << 5)

/// Bit set of CK_CPU_* flags for the running CPU.
uint32_t ck_cpu_features(void);

#ifdef __cplusplus
}
#endif
#endif
