// Pointwise (1x1, stride 1) convolution on NCHW for AVX2 + FMA: 6 output channels x 16
// pixels per step in 12 ymm accumulators, the pixels as the vector (the input is read in place,
// 16 consecutive pixels of each channel plane; the weights are broadcast), so outputs are
// stored as whole vectors to their channel rows with no transpose.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx2_mask.h"

#define CK_TARGET __attribute__((target("avx2,fma")))

CK_TARGET __attribute__((always_inline)) static inline void ck_pw_tile(
    size_t channels, const float* w, const float* x, size_t xs, size_t np, float* y, size_t ys, size_t mr,
    const float* bias, uint32_t flags, __m256 vlo, __m256 vhi) {
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
  const int full = np == 16;
  const __m256i m0 = ck_lane_mask8(np < 8 ? np : 8), m1 = ck_lane_mask8(np > 8 ? np - 8 : 0);
  for (size_t c = 0; c < channels; c++) {
    const float* xc = x + c * xs;
    __m256 b0, b1;
    if (full) {
      b0 = _mm256_loadu_ps(xc);
      b1 = _mm256_loadu_ps(xc + 8);
    } else {
      b0 = _mm256_maskload_ps(xc, m0);
      b1 = _mm256_maskload_ps(xc + 8, m1);
    }
    __m256 a;
    a = _mm256_broadcast_ss(w + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(w + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(w + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(w + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(w + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(w + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    w += 6;
  }
  __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (size_t i = 0; i < mr; i++) {
    float* row = y + i * ys;
    __m256 v0 = acc[i][0], v1 = acc[i][1];
    if (bias != NULL) {
      const __m256 bv = _mm256_broadcast_ss(bias + i);
      v0 = _mm256_add_ps(bv, v0);
      v1 = _mm256_add_ps(bv, v1);
    }
    if (flags & CK_CONV_ACCUMULATE) {
      v0 = _mm256_add_ps(v0, full ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, m0));
      v1 = _mm256_add_ps(v1, full ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, m1));
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

CK_TARGET __attribute__((noinline)) static void ck_pw_full(
    size_t channels, const float* w, const float* x, size_t xs, float* y, size_t ys, size_t mr,
    const float* bias, uint32_t flags, __m256 vlo, __m256 vhi) {
  ck_pw_tile(channels, w, x, xs, 16, y, ys, mr, bias, flags, vlo, vhi);
}

CK_TARGET __attribute__((noinline)) static void ck_pw_partial(
    size_t channels, const float* w, const float* x, size_t xs, size_t np, float* y, size_t ys, size_t mr,
    const float* bias, uint32_t flags, __m256 vlo, __m256 vhi) {
  ck_pw_tile(channels, w, x, xs, np, y, ys, mr, bias, flags, vlo, vhi);
}

CK_TARGET void ck_f32_conv1x1_tiles_6x16__avx2_fma(
    size_t channels, const float* w, const float* x, size_t x_channel_stride, size_t pixel_count, float* y,
    size_t y_channel_stride, size_t mr, const float* bias, uint32_t flags, float lo, float hi) {
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  size_t p = 0;
  for (; p + 16 <= pixel_count; p += 16) {
    ck_pw_full(channels, w, x + p, x_channel_stride, y + p, y_channel_stride, mr, bias, flags, vlo, vhi);
  }
  if (p < pixel_count) {
    ck_pw_partial(channels, w, x + p, x_channel_stride, pixel_count - p, y + p, y_channel_stride, mr, bias, flags,
                  vlo, vhi);
  }
}

#else
void ck_f32_conv1x1_tiles_6x16__avx2_fma(
    size_t channels, const float* w, const float* x, size_t x_channel_stride, size_t pixel_count, float* y,
    size_t y_channel_stride, size_t mr, const float* bias, uint32_t flags, float lo, float hi) {
  (void)channels; (void)w; (void)x; (void)x_channel_stride; (void)pixel_count; (void)y; (void)y_channel_stride;
  (void)mr; (void)bias; (void)flags; (void)lo; (void)hi;
}
#endif
