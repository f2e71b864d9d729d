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

// ---- Scheduling helper (ck_atomic.c) ----
// Atomically adds 1 to *counter (relaxed ordering) and returns the previous value. Lets the
// Swift thread fan-out keep its task counter on the stack (no allocation per call).
intptr_t ck_atomic_fetch_increment(intptr_t* counter);

// ---- FMA throughput probe (ck_f32_fma_peak__avx2_fma.c) ----
// Runs `iterations` steps of 12 independent 8-lane FMA chains (192 FLOP per step) and
// returns a value that depends on all of them (so the work is not optimised away).
// Used to measure the machine's f32 FMA peak.
float ck_f32_fma_peak_probe__avx2_fma(size_t iterations);

// ---- f32 GEMM micro-kernels (ck_f32_gemm_*.c) ----
//
// C[0..mr, 0..nr] (+)= A * B for one MR x NR tile, where
//   A is a packed micro-panel of kc x CK_GEMM_MR floats (for each k: MR consecutive rows),
//   B is a packed micro-panel of kc x CK_GEMM_NR floats (for each k: NR consecutive columns),
//   C is row-major with row stride ldc floats (a row is an output channel, a column a pixel).
// flags: CK_GEMM_ACCUMULATE adds to C (else C is overwritten, starting from `bias`
// when bias != NULL, else from 0); CK_GEMM_CLAMP applies min(max(x, lo), hi) before the
// store (NaN propagates). Rows >= mr and columns >= nr are neither read nor written.
// Preconditions: kc >= 1, 1 <= mr <= MR, 1 <= nr <= NR.
#define CK_GEMM_MR 6
#define CK_GEMM_NR 16
#define CK_GEMM_ACCUMULATE 1u
#define CK_GEMM_CLAMP 2u

void ck_f32_gemm_ukernel_6x16__avx2_fma(
    size_t kc, const float* a, const float* b, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi);

// ---- f32 depthwise kernel (ck_f32_dwconv_*.c) ----
// One channel, one output row segment whose taps are all in bounds:
//   y[j] += sum_{r < kh, s < kw} w[r * kw + s] * x[r * x_row_stride + j * stride + s * dilation]
// for j in [0, count). x points at the top-left tap of the segment's first output; y holds
// the running sum (for example the bias) and receives the result. No clamping.
void ck_f32_dwconv_row_ukernel__avx2_fma(
    size_t count, size_t kh, size_t kw, const float* x, size_t x_row_stride,
    size_t stride, size_t dilation, const float* w, float* y);

#ifdef __cplusplus
}
#endif
#endif
