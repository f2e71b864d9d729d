// Depthwise convolution of one zero-padded plane for AVX2 + FMA: 8 outputs of a row per
// step, the input loaded as vectors (stride 1) or de-interleaved from two vectors (stride 2;
// no gathers, which are slow on AMD), bias and clamp fused into the store. 3x3 filters keep
// their 9 weights in registers.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx2,fma")))

// Lanes j = 0..7 of x[j * 2]: even elements of x[0..16).
CK_TARGET __attribute__((always_inline)) static inline __m256 ck_even(const float* x) {
  const __m256 a = _mm256_loadu_ps(x), b = _mm256_loadu_ps(x + 8);
  const __m256 e = _mm256_shuffle_ps(a, b, 0x88);  // a0 a2 b0 b2 | a4 a6 b4 b6
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
}

// 8 lanes of input for output lanes j = 0..7: x[j * stride] (stride 1 or 2), else gathered
// lane by lane.
CK_TARGET __attribute__((always_inline)) static inline __m256 ck_lanes(const float* x, size_t stride) {
  if (stride == 1) return _mm256_loadu_ps(x);
  if (stride == 2) return ck_even(x);
  return _mm256_setr_ps(x[0], x[stride], x[2 * stride], x[3 * stride], x[4 * stride], x[5 * stride],
                        x[6 * stride], x[7 * stride]);
}

// Stores acc's lanes 0 .. n-1 at out (n < 8) with scalar stores, adding the prior values and
// clamping as the vector path does.
CK_TARGET __attribute__((noinline)) static void ck_store_tail(float* out, __m256 acc, size_t n, int accumulate,
                                                             int clamp, float lo, float hi) {
  float tmp[8];
  _mm256_storeu_ps(tmp, acc);
#pragma clang loop vectorize(disable)
  for (size_t j = 0; j < n; j++) {
    float v = tmp[j];
    if (accumulate) v += out[j];
    // v < lo and v > hi are false for NaN: NaN propagates, as in the vector form.
    if (clamp) { v = v < lo ? lo : v; v = v > hi ? hi : v; }
    out[j] = v;
  }
}

// The row loop for a fixed kernel shape: K3 selects the 3x3 body with its weights in registers.
#define CK_DW_BODY(K3)                                                                                   \
  for (size_t oy = 0; oy < out_h; oy++) {                                                                \
    const float* row = x + oy * stride * x_row_stride;                                                   \
    float* out = y + oy * out_w;                                                                         \
    /* A last partial step may store all 8 lanes when the extra lanes land in later rows of the */     \
    /* plane (rewritten after), unless accumulating. */                                                  \
    const size_t after = (out_h - oy - 1) * out_w;                                                       \
    for (size_t ox = 0; ox < out_w; ox += 8) {                                                           \
      const float* p = row + ox * stride;                                                                \
      __m256 acc = vb;                                                                                   \
      if (K3) {                                                                                          \
        const float* p1 = p + dilation * x_row_stride;                                                   \
        const float* p2 = p1 + dilation * x_row_stride;                                                  \
        acc = _mm256_fmadd_ps(w0, ck_lanes(p, stride), acc);                                             \
        acc = _mm256_fmadd_ps(w1, ck_lanes(p + dilation, stride), acc);                                  \
        acc = _mm256_fmadd_ps(w2, ck_lanes(p + 2 * dilation, stride), acc);                              \
        acc = _mm256_fmadd_ps(w3, ck_lanes(p1, stride), acc);                                            \
        acc = _mm256_fmadd_ps(w4, ck_lanes(p1 + dilation, stride), acc);                                 \
        acc = _mm256_fmadd_ps(w5, ck_lanes(p1 + 2 * dilation, stride), acc);                             \
        acc = _mm256_fmadd_ps(w6, ck_lanes(p2, stride), acc);                                            \
        acc = _mm256_fmadd_ps(w7, ck_lanes(p2 + dilation, stride), acc);                                 \
        acc = _mm256_fmadd_ps(w8, ck_lanes(p2 + 2 * dilation, stride), acc);                             \
      } else {                                                                                           \
        for (size_t r = 0; r < kh; r++) {                                                                \
          const float* pr = p + r * dilation * x_row_stride;                                             \
          for (size_t s = 0; s < kw; s++) {                                                              \
            acc = _mm256_fmadd_ps(_mm256_broadcast_ss(w + r * kw + s), ck_lanes(pr + s * dilation, stride), acc); \
          }                                                                                              \
        }                                                                                                \
      }                                                                                                  \
      const size_t n = out_w - ox < 8 ? out_w - ox : 8;                                                  \
      if (n == 8 || (!accumulate && after >= 8 - n)) {                                                   \
        if (accumulate) acc = _mm256_add_ps(acc, _mm256_loadu_ps(out + ox));                             \
        if (clamp) acc = _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc));                                    \
        _mm256_storeu_ps(out + ox, acc);                                                                 \
      } else {                                                                                           \
        ck_store_tail(out + ox, acc, n, accumulate, clamp, lo, hi);                                      \
      }                                                                                                  \
    }                                                                                                    \
  }

CK_TARGET void ck_f32_dwconv_plane_ukernel__avx2_fma(
    const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t kh, size_t kw, size_t stride,
    size_t dilation, const float* w, float bias, uint32_t flags, float lo, float hi, float* y) {
  const __m256 vb = _mm256_set1_ps(bias), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  const int clamp = (flags & CK_GEMM_CLAMP) != 0;
  const int accumulate = (flags & CK_CONV_ACCUMULATE) != 0;
  if (kh == 3 && kw == 3) {
    const __m256 w0 = _mm256_broadcast_ss(w + 0), w1 = _mm256_broadcast_ss(w + 1), w2 = _mm256_broadcast_ss(w + 2);
    const __m256 w3 = _mm256_broadcast_ss(w + 3), w4 = _mm256_broadcast_ss(w + 4), w5 = _mm256_broadcast_ss(w + 5);
    const __m256 w6 = _mm256_broadcast_ss(w + 6), w7 = _mm256_broadcast_ss(w + 7), w8 = _mm256_broadcast_ss(w + 8);
    CK_DW_BODY(1)
  } else {
    const __m256 w0 = vb, w1 = vb, w2 = vb, w3 = vb, w4 = vb, w5 = vb, w6 = vb, w7 = vb, w8 = vb;
    (void)w0; (void)w1; (void)w2; (void)w3; (void)w4; (void)w5; (void)w6; (void)w7; (void)w8;
    CK_DW_BODY(0)
  }
}

#else
void ck_f32_dwconv_plane_ukernel__avx2_fma(
    const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t kh, size_t kw, size_t stride,
    size_t dilation, const float* w, float bias, uint32_t flags, float lo, float hi, float* y) {
  (void)x; (void)x_row_stride; (void)out_h; (void)out_w; (void)kh; (void)kw; (void)stride; (void)dilation;
  (void)w; (void)bias; (void)flags; (void)lo; (void)hi; (void)y;
}
#endif
