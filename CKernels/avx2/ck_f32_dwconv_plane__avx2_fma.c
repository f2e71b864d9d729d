// Depthwise convolution of one zero-padded plane for AVX2 + FMA, the input loaded as vectors
// (stride 1) or de-interleaved from two vectors (stride 2; no gathers, which are slow on AMD),
// bias and clamp fused into the store. 3x3 filters keep their 9 weights in registers and run
// 8 outputs of a row per step; other filters run blocks of 4 vectors with independent
// accumulators (measured 2x the one-vector loop on 5x5 and 7x7 filters).
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

// One block of rb output rows x vb vectors of 8 outputs (rb * vb <= 4 independent accumulators,
// so that the FMA latency is hidden; a single accumulator per step ran at a quarter of the FMA
// throughput). p is the top-left tap of the block's first output. Stores row by row, in
// increasing order, so that a last partial vector may store all 8 lanes when the extra lanes
// land on outputs of a later row that is rewritten after (never when accumulating, nor past
// the plane's last output).
CK_TARGET __attribute__((always_inline)) static inline void ck_dw_block(
    const float* p, size_t x_row_stride, size_t kh, size_t kw, size_t stride, size_t dilation, const float* w,
    const size_t rb, const size_t vb, __m256 vbias, float* out, size_t out_w,
    size_t ox, size_t rows_after, int accumulate, int clamp, __m256 vlo, __m256 vhi, float lo, float hi) {
  __m256 acc[4];
#pragma clang loop unroll(full)
  for (size_t a = 0; a < rb * vb; a++) acc[a] = vbias;
  const size_t row_step = stride * x_row_stride;
  for (size_t r = 0; r < kh; r++) {
    for (size_t s = 0; s < kw; s++) {
      const __m256 wv = _mm256_broadcast_ss(w + r * kw + s);
      const float* q = p + r * dilation * x_row_stride + s * dilation;
#pragma clang loop unroll(full)
      for (size_t i = 0; i < rb; i++) {
#pragma clang loop unroll(full)
        for (size_t v = 0; v < vb; v++) {
          acc[i * vb + v] = _mm256_fmadd_ps(wv, ck_lanes(q + i * row_step + v * 8 * stride, stride), acc[i * vb + v]);
        }
      }
    }
  }
#pragma clang loop unroll(full)
  for (size_t i = 0; i < rb; i++) {
    float* o = out + i * out_w;
#pragma clang loop unroll(full)
    for (size_t v = 0; v < vb; v++) {
      const size_t x0 = ox + v * 8;
      const size_t n = out_w - x0 < 8 ? out_w - x0 : 8;
      __m256 a = acc[i * vb + v];
      // Outputs after this vector's last one in the plane: the rest of later rows.
      const size_t after = (rows_after - i) * out_w;
      if (n == 8 || (!accumulate && after >= 8 - n)) {
        if (accumulate) a = _mm256_add_ps(a, _mm256_loadu_ps(o + x0));
        if (clamp) a = _mm256_min_ps(vhi, _mm256_max_ps(vlo, a));
        _mm256_storeu_ps(o + x0, a);
      } else {
        ck_store_tail(o + x0, a, n, accumulate, clamp, lo, hi);
      }
    }
  }
}

// The blocked plane loop for a fixed stride (S: 1 or 2, or 0 for the stride argument): blocks
// of RB rows x VB vectors, smaller blocks at the bottom and right edges. One out-of-line
// function per stride, so that the compiler does not merge them.
#define CK_DW_CALL(RB, VB)                                                                                \
  ck_dw_block(p, x_row_stride, kh, kw, sc, dilation, w, RB, VB, vb, out, out_w, ox,  \
              out_h - oy - 1, accumulate, clamp, vlo, vhi, lo, hi)
#define CK_DW_PLANE_FUNCTION(NAME, S)                                                                 \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                   \
      const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t kh, size_t kw, size_t stride, \
      size_t dilation, const float* w, __m256 vb, int accumulate, int clamp, float lo, float hi, float* y) { \
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);                                      \
    const size_t sc = S ? S : stride;                                                                     \
    /* 4 accumulators side by side on wide rows, stacked over 2 or 4 rows on narrow ones. */              \
    const size_t vectors = (out_w + 7) / 8;                                                               \
    const size_t VB = vectors >= 3 ? 4 : vectors == 2 ? 2 : 1;                                            \
    const size_t RB = 4 / VB;                                                                             \
    for (size_t oy = 0; oy < out_h; oy += RB) {                                                           \
      const size_t rb = out_h - oy < RB ? out_h - oy : RB;                                                \
      float* out = y + oy * out_w;                                                                        \
      for (size_t ox = 0; ox < out_w; ox += 8 * VB) {                                                     \
        const size_t left = (out_w - ox + 7) / 8;                                                         \
        const size_t vbn = left < VB ? left : VB;                                                         \
        const float* p = x + oy * sc * x_row_stride + ox * sc;                \
        switch (rb * 4 + vbn) {                                                                           \
          case 4 + 1: CK_DW_CALL(1, 1); break;                                                            \
          case 4 + 2: CK_DW_CALL(1, 2); break;                                                            \
          case 4 + 3: CK_DW_CALL(1, 3); break;                                                            \
          case 4 + 4: CK_DW_CALL(1, 4); break;                                                            \
          case 8 + 1: CK_DW_CALL(2, 1); break;                                                            \
          case 8 + 2: CK_DW_CALL(2, 2); break;                                                            \
          case 12 + 1: CK_DW_CALL(3, 1); break;                                                           \
          default: CK_DW_CALL(4, 1); break;                                                               \
        }                                                                                                 \
      }                                                                                                   \
    }                                                                                                     \
  }

CK_DW_PLANE_FUNCTION(ck_dw_plane_s1, 1)
CK_DW_PLANE_FUNCTION(ck_dw_plane_s2, 2)
CK_DW_PLANE_FUNCTION(ck_dw_plane_any, 0)
#undef CK_DW_CALL
#undef CK_DW_PLANE_FUNCTION

// The row loop of 3x3 filters, their weights in registers: one vector of 8 outputs per step
// (consecutive steps are independent, so out-of-order execution overlaps their FMA chains;
// measured as fast as the blocked loop above, which spills registers with 9 weights).
#define CK_DW_BODY_3X3                                                                                    \
  for (size_t oy = 0; oy < out_h; oy++) {                                                                \
    const float* row = x + oy * stride * x_row_stride;                                                   \
    float* out = y + oy * out_w;                                                                         \
    /* A last partial step may store all 8 lanes when the extra lanes land in later rows of the */     \
    /* plane (rewritten after), unless accumulating. */                                                  \
    const size_t after = (out_h - oy - 1) * out_w;                                                       \
    for (size_t ox = 0; ox < out_w; ox += 8) {                                                           \
      const float* p = row + ox * stride;                                                                \
      __m256 acc = vb;                                                                                   \
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

// One out-of-line 3x3 instance per stride (1, 2, or any), so that the loads carry no stride
// test.
#define CK_DW_3X3_FUNCTION(NAME, S)                                                                       \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                   \
      const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t stride_arg, size_t dilation, \
      const float* w, __m256 vb, int accumulate, int clamp, float lo, float hi, float* y) {               \
    const size_t stride = S ? S : stride_arg;                                                             \
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);                                      \
    const __m256 w0 = _mm256_broadcast_ss(w + 0), w1 = _mm256_broadcast_ss(w + 1);                        \
    const __m256 w2 = _mm256_broadcast_ss(w + 2), w3 = _mm256_broadcast_ss(w + 3);                        \
    const __m256 w4 = _mm256_broadcast_ss(w + 4), w5 = _mm256_broadcast_ss(w + 5);                        \
    const __m256 w6 = _mm256_broadcast_ss(w + 6), w7 = _mm256_broadcast_ss(w + 7);                        \
    const __m256 w8 = _mm256_broadcast_ss(w + 8);                                                         \
    CK_DW_BODY_3X3                                                                                        \
  }
CK_DW_3X3_FUNCTION(ck_dw_plane_3x3_s1, 1)
CK_DW_3X3_FUNCTION(ck_dw_plane_3x3_s2, 2)
CK_DW_3X3_FUNCTION(ck_dw_plane_3x3_any, 0)
#undef CK_DW_3X3_FUNCTION

CK_TARGET void ck_f32_dwconv_plane_ukernel__avx2_fma(
    const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t kh, size_t kw, size_t stride,
    size_t dilation, const float* w, float bias, uint32_t flags, float lo, float hi, float* y) {
  const __m256 vb = _mm256_set1_ps(bias);
  const int clamp = (flags & CK_GEMM_CLAMP) != 0;
  const int accumulate = (flags & CK_CONV_ACCUMULATE) != 0;
  if (kh == 3 && kw == 3) {
    if (stride == 1) {
      ck_dw_plane_3x3_s1(x, x_row_stride, out_h, out_w, stride, dilation, w, vb, accumulate, clamp, lo, hi, y);
    } else if (stride == 2) {
      ck_dw_plane_3x3_s2(x, x_row_stride, out_h, out_w, stride, dilation, w, vb, accumulate, clamp, lo, hi, y);
    } else {
      ck_dw_plane_3x3_any(x, x_row_stride, out_h, out_w, stride, dilation, w, vb, accumulate, clamp, lo, hi, y);
    }
  } else if (stride == 1) {
    ck_dw_plane_s1(x, x_row_stride, out_h, out_w, kh, kw, stride, dilation, w, vb, accumulate, clamp, lo, hi, y);
  } else if (stride == 2) {
    ck_dw_plane_s2(x, x_row_stride, out_h, out_w, kh, kw, stride, dilation, w, vb, accumulate, clamp, lo, hi, y);
  } else {
    ck_dw_plane_any(x, x_row_stride, out_h, out_w, kh, kw, stride, dilation, w, vb, accumulate, clamp, lo, hi, y);
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
