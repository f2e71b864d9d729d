// Max and average pooling of one plane for AVX2: for each output row, the rows of its window
// (clipped to the input) are combined column by column into a row buffer (8 columns per step),
// then 8 outputs whose windows lie inside the row are combined per step (stride 1: plain
// loads; stride 2: the even lanes of two loads), the others one by one. Max propagates NaN;
// average divides by the window's area clipped to the padded input (count_include_pad) or by
// its number of input values.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx2")))

// NaN-propagating max: a when a > m or a is NaN, else m.
CK_TARGET static inline __m256 ck_max_nan(__m256 m, __m256 a) {
  const __m256 take = _mm256_or_ps(_mm256_cmp_ps(a, m, _CMP_GT_OQ), _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  return _mm256_blendv_ps(m, a, take);
}

// Scalar max with NaN propagation, without a data-dependent branch (a branch on random
// values mispredicts about half the time).
CK_TARGET static inline float ck_max_nan_ss(float m, float a) {
  const __m128 vm = _mm_set_ss(m), va = _mm_set_ss(a);
  const __m128 take = _mm_or_ps(_mm_cmp_ss(va, vm, _CMP_GT_OQ), _mm_cmp_ss(va, va, _CMP_UNORD_Q));
  return _mm_cvtss_f32(_mm_blendv_ps(vm, va, take));
}

CK_TARGET static inline __m256 ck_pool_lanes(const float* p, size_t stride) {
  if (stride == 1) return _mm256_loadu_ps(p);
  if (stride == 2) {
    const __m256 e = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), 0x88);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
  }
  return _mm256_setr_ps(p[0], p[stride], p[2 * stride], p[3 * stride], p[4 * stride], p[5 * stride], p[6 * stride],
                        p[7 * stride]);
}

CK_TARGET __attribute__((always_inline)) static inline void ck_pool_plane(
    const int is_max, const size_t fixed_sw, int count_include_pad, const float* x, size_t h, size_t w, size_t out_h, size_t out_w, size_t kh,
    size_t kw, size_t sh, size_t sw, size_t pad_top, size_t pad_left, size_t pad_bottom, size_t pad_right,
    float* row, float* y) {
  if (fixed_sw) sw = fixed_sw;
  for (size_t oy = 0; oy < out_h; oy++) {
    const ptrdiff_t ys = (ptrdiff_t)(oy * sh) - (ptrdiff_t)pad_top;
    const size_t y0 = ys < 0 ? 0 : (size_t)ys;
    const size_t y1 = (size_t)(ys + (ptrdiff_t)kh) < h ? (size_t)(ys + (ptrdiff_t)kh) : h;
    const ptrdiff_t yend = ys + (ptrdiff_t)kh < (ptrdiff_t)(h + pad_bottom) ? ys + (ptrdiff_t)kh : (ptrdiff_t)(h + pad_bottom);
    const size_t ph = (size_t)(yend - ys);
    // Combine rows y0..y1 column by column.
    const float* r0 = x + y0 * w;
    size_t c = 0;
    for (;; c += 8) {
      // The last vector ends at the row's end, overlapping the one before (it stores the same
      // values again), so that rows of 8 or more columns need no scalar tail.
      if (c + 8 > w) {
        if (w < 8 || c == w) break;
        c = w - 8;
      }
      __m256 m = _mm256_loadu_ps(r0 + c);
      for (size_t yy = y0 + 1; yy < y1; yy++) {
        const __m256 a = _mm256_loadu_ps(x + yy * w + c);
        m = is_max ? ck_max_nan(m, a) : _mm256_add_ps(m, a);
      }
      _mm256_storeu_ps(row + c, m);
      if (c + 8 == w) { c = w; break; }
    }
    for (; c < w; c++) {
      float m = r0[c];
      for (size_t yy = y0 + 1; yy < y1; yy++) {
        const float a = x[yy * w + c];
        m = is_max ? ck_max_nan_ss(m, a) : m + a;
      }
      row[c] = m;
    }
    float* out = y + oy * out_w;
    // Outputs whose windows lie inside the row: [inner_lo, inner_hi). Once the vector steps
    // leave fewer than 8 of them, a last vector ends at inner_hi (overlapping; its outputs are
    // the same values), so only the outputs whose windows cross the row's ends run one by one.
    const size_t inner_lo = pad_left == 0 ? 0 : (pad_left + sw - 1) / sw;
    size_t inner_hi = w + pad_left >= kw ? (w + pad_left - kw) / sw + 1 : 0;
    if (inner_hi > out_w) inner_hi = out_w;
    size_t ox = 0;
    int overlapped = 0;
    while (ox < out_w) {
      if (!overlapped && ox >= inner_lo && ox < inner_hi && ox + 8 > inner_hi && inner_hi >= inner_lo + 8) {
        ox = inner_hi - 8;
        overlapped = 1;
      }
      const ptrdiff_t xs = (ptrdiff_t)(ox * sw) - (ptrdiff_t)pad_left;
      if (xs >= 0 && ox + 8 <= out_w && (size_t)xs + 7 * sw + kw <= w) {
        __m256 m = ck_pool_lanes(row + xs, sw);
        for (size_t j = 1; j < kw; j++) {
          const __m256 a = ck_pool_lanes(row + xs + j, sw);
          m = is_max ? ck_max_nan(m, a) : _mm256_add_ps(m, a);
        }
        if (!is_max) m = _mm256_div_ps(m, _mm256_set1_ps((float)(count_include_pad ? ph * kw : (y1 - y0) * kw)));
        _mm256_storeu_ps(out + ox, m);
        ox += 8;
        continue;
      }
      const size_t x0 = xs < 0 ? 0 : (size_t)xs;
      const size_t x1 = (size_t)(xs + (ptrdiff_t)kw) < w ? (size_t)(xs + (ptrdiff_t)kw) : w;
      float m = row[x0];
      for (size_t xx = x0 + 1; xx < x1; xx++) {
        const float a = row[xx];
        m = is_max ? ck_max_nan_ss(m, a) : m + a;
      }
      if (!is_max) {
        const ptrdiff_t xend = xs + (ptrdiff_t)kw < (ptrdiff_t)(w + pad_right) ? xs + (ptrdiff_t)kw : (ptrdiff_t)(w + pad_right);
        m /= (float)(count_include_pad ? ph * (size_t)(xend - xs) : (y1 - y0) * (x1 - x0));
      }
      out[ox] = m;
      ox++;
    }
  }
}


// One out-of-line instance per operation and horizontal stride (1, 2, or any), so that the
// inner loops carry no run-time tests.
#define CK_POOL_INSTANCE(NAME, IS_MAX, SW)                                                                  \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                     \
      int count_include_pad, const float* x, size_t h, size_t w, size_t out_h, size_t out_w, size_t kh,     \
      size_t kw, size_t sh, size_t sw, size_t pad_top, size_t pad_left, size_t pad_bottom, size_t pad_right, \
      float* row, float* y) {                                                                               \
    ck_pool_plane(IS_MAX, SW, count_include_pad, x, h, w, out_h, out_w, kh, kw, sh, sw, pad_top, pad_left, \
                  pad_bottom, pad_right, row, y);                                                           \
  }
CK_POOL_INSTANCE(ck_pool_max_s1, 1, 1)
CK_POOL_INSTANCE(ck_pool_max_s2, 1, 2)
CK_POOL_INSTANCE(ck_pool_max_any, 1, 0)
CK_POOL_INSTANCE(ck_pool_avg_s1, 0, 1)
CK_POOL_INSTANCE(ck_pool_avg_s2, 0, 2)
CK_POOL_INSTANCE(ck_pool_avg_any, 0, 0)
#undef CK_POOL_INSTANCE

CK_TARGET void ck_f32_pool2d_plane__avx2(
    int is_max, int count_include_pad, const float* x, size_t h, size_t w, size_t out_h, size_t out_w, size_t kh,
    size_t kw, size_t sh, size_t sw, size_t pad_top, size_t pad_left, size_t pad_bottom, size_t pad_right,
    float* row, float* y) {
  void (*f)(int, const float*, size_t, size_t, size_t, size_t, size_t, size_t, size_t, size_t, size_t, size_t,
            size_t, size_t, float*, float*);
  if (is_max) f = sw == 1 ? ck_pool_max_s1 : sw == 2 ? ck_pool_max_s2 : ck_pool_max_any;
  else f = sw == 1 ? ck_pool_avg_s1 : sw == 2 ? ck_pool_avg_s2 : ck_pool_avg_any;
  f(count_include_pad, x, h, w, out_h, out_w, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right, row, y);
}

#else
void ck_f32_pool2d_plane__avx2(
    int is_max, int count_include_pad, const float* x, size_t h, size_t w, size_t out_h, size_t out_w, size_t kh,
    size_t kw, size_t sh, size_t sw, size_t pad_top, size_t pad_left, size_t pad_bottom, size_t pad_right,
    float* row, float* y) {
  (void)is_max; (void)count_include_pad; (void)x; (void)h; (void)w; (void)out_h; (void)out_w; (void)kh; (void)kw;
  (void)sh; (void)sw; (void)pad_top; (void)pad_left; (void)pad_bottom; (void)pad_right; (void)row; (void)y;
}
#endif
