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

CK_TARGET static inline __m256 ck_pool_lanes(const float* p, size_t stride) {
  if (stride == 1) return _mm256_loadu_ps(p);
  if (stride == 2) {
    const __m256 e = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), 0x88);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
  }
  return _mm256_setr_ps(p[0], p[stride], p[2 * stride], p[3 * stride], p[4 * stride], p[5 * stride], p[6 * stride],
                        p[7 * stride]);
}

CK_TARGET void ck_f32_pool2d_plane__avx2(
    int is_max, int count_include_pad, const float* x, size_t h, size_t w, size_t out_h, size_t out_w, size_t kh,
    size_t kw, size_t sh, size_t sw, size_t pad_top, size_t pad_left, size_t pad_bottom, size_t pad_right,
    float* row, float* y) {
  for (size_t oy = 0; oy < out_h; oy++) {
    const ptrdiff_t ys = (ptrdiff_t)(oy * sh) - (ptrdiff_t)pad_top;
    const size_t y0 = ys < 0 ? 0 : (size_t)ys;
    const size_t y1 = (size_t)(ys + (ptrdiff_t)kh) < h ? (size_t)(ys + (ptrdiff_t)kh) : h;
    const ptrdiff_t yend = ys + (ptrdiff_t)kh < (ptrdiff_t)(h + pad_bottom) ? ys + (ptrdiff_t)kh : (ptrdiff_t)(h + pad_bottom);
    const size_t ph = (size_t)(yend - ys);
    // Combine rows y0..y1 column by column.
    const float* r0 = x + y0 * w;
    size_t c = 0;
    for (; c + 8 <= w; c += 8) {
      __m256 m = _mm256_loadu_ps(r0 + c);
      for (size_t yy = y0 + 1; yy < y1; yy++) {
        const __m256 a = _mm256_loadu_ps(x + yy * w + c);
        m = is_max ? ck_max_nan(m, a) : _mm256_add_ps(m, a);
      }
      _mm256_storeu_ps(row + c, m);
    }
    for (; c < w; c++) {
      float m = r0[c];
      for (size_t yy = y0 + 1; yy < y1; yy++) {
        const float a = x[yy * w + c];
        if (is_max) { if (a > m || a != a) m = a; } else { m += a; }
      }
      row[c] = m;
    }
    float* out = y + oy * out_w;
    size_t ox = 0;
    while (ox < out_w) {
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
        if (is_max) { if (a > m || a != a) m = a; } else { m += a; }
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

#else
void ck_f32_pool2d_plane__avx2(
    int is_max, int count_include_pad, const float* x, size_t h, size_t w, size_t out_h, size_t out_w, size_t kh,
    size_t kw, size_t sh, size_t sw, size_t pad_top, size_t pad_left, size_t pad_bottom, size_t pad_right,
    float* row, float* y) {
  (void)is_max; (void)count_include_pad; (void)x; (void)h; (void)w; (void)out_h; (void)out_w; (void)kh; (void)kw;
  (void)sh; (void)sw; (void)pad_top; (void)pad_left; (void)pad_bottom; (void)pad_right; (void)row; (void)y;
}
#endif
