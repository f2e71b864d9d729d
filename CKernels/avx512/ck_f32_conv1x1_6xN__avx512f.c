// Pointwise (1x1, stride 1) convolution on NCHW for AVX-512F: the AVX2 kernel's contract
// (ck_f32_conv1x1_tiles_6x16__avx2_fma) with 6 output channels x 64 pixels per step in 24 zmm
// accumulators (4 vectors of 16 pixels per channel row; 32 registers leave room for the 4
// input vectors and a broadcast weight). The pixels are the vector, read in place from each
// channel plane; the weights of one input channel are broadcast. A last partial step of fewer
// than 64 pixels runs as many whole 16-pixel vectors as it needs, the last one masked (loads
// and stores touch only its pixels).
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx512f")))

// One tile of 6 channel rows by NV vectors of 16 pixels; `tail` is the lane mask of the last
// vector (all ones for a whole tile). NV is a compile-time constant at every call site, so the
// accumulators stay in registers.
CK_TARGET __attribute__((always_inline)) static inline void ck_pw512_tile(
    const int NV, size_t channels, const float* w, const float* x, size_t xs, float* y, size_t ys, size_t mr,
    const float* bias, uint32_t flags, __mmask16 tail, __m512 vlo, __m512 vhi) {
  // Every loop over the tile's rows and vectors is unrolled, and rows past mr are skipped by a
  // test of the unrolled index: the accumulators stay in registers (a store loop indexed by
  // the run-time mr made clang keep the array on the stack, zeroed by a memset call per tile).
  __m512 acc[6][4];
#pragma clang loop unroll(full)
  for (int i = 0; i < 6; i++) {
#pragma clang loop unroll(full)
    for (int v = 0; v < 4; v++) acc[i][v] = _mm512_setzero_ps();
  }
  for (size_t c = 0; c < channels; c++) {
    const float* xc = x + c * xs;
    __m512 b[4];
    for (int v = 0; v < NV; v++) {
      b[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(tail, xc + 16 * v) : _mm512_loadu_ps(xc + 16 * v);
    }
    for (int i = 0; i < 6; i++) {
      const __m512 a = _mm512_set1_ps(w[i]);
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
    w += 6;
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < 6; i++) {
    if ((size_t)i >= mr) break;
    float* row = y + i * ys;
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) {
      const __mmask16 m = v == NV - 1 ? tail : (__mmask16)0xFFFF;
      __m512 r = acc[i][v];
      if (bias != NULL) r = _mm512_add_ps(_mm512_set1_ps(bias[i]), r);
      if (flags & CK_CONV_ACCUMULATE) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, row + 16 * v));
      // max(lo, v) and min(hi, v) return v when v is NaN (the second operand wins).
      if (flags & CK_GEMM_CLAMP) r = _mm512_min_ps(vhi, _mm512_max_ps(vlo, r));
      _mm512_mask_storeu_ps(row + 16 * v, m, r);
    }
  }
}

#define CK_PW512_INSTANCE(NV)                                                                                    \
  CK_TARGET __attribute__((noinline)) static void ck_pw512_nv##NV(                                              \
      size_t channels, const float* w, const float* x, size_t xs, float* y, size_t ys, size_t mr,               \
      const float* bias, uint32_t flags, __mmask16 tail, __m512 vlo, __m512 vhi) {                              \
    ck_pw512_tile(NV, channels, w, x, xs, y, ys, mr, bias, flags, tail, vlo, vhi);                              \
  }
CK_PW512_INSTANCE(1)
CK_PW512_INSTANCE(2)
CK_PW512_INSTANCE(3)
CK_PW512_INSTANCE(4)

CK_TARGET void ck_f32_conv1x1_tiles_6x64__avx512f(
    size_t channels, const float* w, const float* x, size_t x_channel_stride, size_t pixel_count, float* y,
    size_t y_channel_stride, size_t mr, const float* bias, uint32_t flags, float lo, float hi) {
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  size_t p = 0;
  for (; p + 64 <= pixel_count; p += 64) {
    ck_pw512_nv4(channels, w, x + p, x_channel_stride, y + p, y_channel_stride, mr, bias, flags, 0xFFFF, vlo, vhi);
  }
  const size_t rest = pixel_count - p;
  if (rest == 0) return;
  const size_t vectors = (rest + 15) / 16, last = rest - 16 * (vectors - 1);
  const __mmask16 tail = (__mmask16)((1u << last) - 1u);
  const float* xp = x + p;
  float* yp = y + p;
  switch (vectors) {
    case 1: ck_pw512_nv1(channels, w, xp, x_channel_stride, yp, y_channel_stride, mr, bias, flags, tail, vlo, vhi); break;
    case 2: ck_pw512_nv2(channels, w, xp, x_channel_stride, yp, y_channel_stride, mr, bias, flags, tail, vlo, vhi); break;
    case 3: ck_pw512_nv3(channels, w, xp, x_channel_stride, yp, y_channel_stride, mr, bias, flags, tail, vlo, vhi); break;
    default: ck_pw512_nv4(channels, w, xp, x_channel_stride, yp, y_channel_stride, mr, bias, flags, tail, vlo, vhi); break;
  }
}

#else
void ck_f32_conv1x1_tiles_6x64__avx512f(
    size_t channels, const float* w, const float* x, size_t x_channel_stride, size_t pixel_count, float* y,
    size_t y_channel_stride, size_t mr, const float* bias, uint32_t flags, float lo, float hi) {
  (void)channels; (void)w; (void)x; (void)x_channel_stride; (void)pixel_count; (void)y; (void)y_channel_stride;
  (void)mr; (void)bias; (void)flags; (void)lo; (void)hi;
}
#endif
