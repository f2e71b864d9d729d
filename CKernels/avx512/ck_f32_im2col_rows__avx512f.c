// im2col rows for AVX-512F: the lowered input of a block of output pixels, one row per tap,
// for a GEMM with the pixels as the vector (the pointwise tile kernel). Used for layers with few
// input channels (a 3-channel stem: 27 taps), whose indirect tile spends as long transposing its
// store as on its 27-deep sum.
//
// Each row segment (the pixels of one output row in the block) is 16 outputs per step: at
// stride 1 one masked load, at stride 2 two masked loads and a vpermt2ps of their even lanes.
// Loads are masked to the lanes inside the input plane, so the zero padding is never copied and
// nothing outside the plane is read; rows of taps outside the plane are stored as zeros. Other
// strides run a scalar loop.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx512_mask.h"

#define CK_TARGET __attribute__((target("avx512f")))

// dst[j] = row[c0 + j * stride] for j < n, zero outside columns 0 .. in_w - 1.
CK_TARGET static inline void ck_im2col_segment(const float* row, ptrdiff_t in_w, ptrdiff_t c0, size_t stride,
                                               size_t n, float* dst) {
  size_t j = 0;
  if (stride == 1) {
    for (; j < n; j += 16) {
      const ptrdiff_t c = c0 + (ptrdiff_t)j;
      const size_t left = n - j < 16 ? n - j : 16;
      const __mmask16 m = ck_lane_span(-c, in_w - c) & ck_lane_span(0, (ptrdiff_t)left);
      _mm512_mask_storeu_ps(dst + j, ck_lane_span(0, (ptrdiff_t)left), _mm512_maskz_loadu_ps(m, ck_unchecked_at(row, c)));
    }
  } else if (stride == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (; j < n; j += 16) {
      const ptrdiff_t c = c0 + 2 * (ptrdiff_t)j;
      const size_t left = n - j < 16 ? n - j : 16;
      // Columns c .. c + 2 * left - 2 (the even lanes of two vectors).
      const ptrdiff_t end = (in_w < c + 2 * (ptrdiff_t)left - 1 ? in_w : c + 2 * (ptrdiff_t)left - 1) - c;
      const __m512 a = _mm512_maskz_loadu_ps(ck_lane_span(-c, end), ck_unchecked_at(row, c));
      const __m512 b = _mm512_maskz_loadu_ps(ck_lane_span(-c - 16, end - 16), ck_unchecked_at(row, c + 16));
      _mm512_mask_storeu_ps(dst + j, ck_lane_span(0, (ptrdiff_t)left), _mm512_permutex2var_ps(a, even, b));
    }
  } else {
    for (; j < n; j++) {
      const ptrdiff_t col = c0 + (ptrdiff_t)(j * stride);
      dst[j] = col >= 0 && col < in_w ? row[col] : 0.0f;
    }
  }
}

// Whole output rows of at most this many vectors take the fast loop, with the masks of each
// vector computed once per filter column s (they are the same for every channel, filter row and
// output row).
#define CK_IM2COL_MAX_VECTORS 64

CK_TARGET void ck_f32_im2col_rows__avx512f(
    const float* x, size_t channels, size_t in_h, size_t in_w, size_t kh, size_t kw, size_t stride_h,
    size_t stride_w, size_t dilation_h, size_t dilation_w, size_t pad_top, size_t pad_left, size_t out_w,
    size_t first_pixel, size_t pixel_count, float* dst, size_t dst_stride) {
  if (pixel_count == 0) return;
  const size_t first_row = first_pixel / out_w, last_row = (first_pixel + pixel_count - 1) / out_w;
  const size_t vectors = (out_w + 15) / 16;
  const int fast = (stride_w == 1 || stride_w == 2) && vectors <= CK_IM2COL_MAX_VECTORS;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __mmask16 last_store = ck_lane_span(0, (ptrdiff_t)(out_w - 16 * (vectors - 1)));
  __mmask16 ma[CK_IM2COL_MAX_VECTORS], mb[CK_IM2COL_MAX_VECTORS];
  for (size_t s = 0; s < kw; s++) {
    // The first input column of a whole row's outputs for this filter column, and its masks.
    const ptrdiff_t c0 = (ptrdiff_t)(s * dilation_w) - (ptrdiff_t)pad_left, w = (ptrdiff_t)in_w;
    if (fast) {
      for (size_t j = 0; j < vectors; j++) {
        const ptrdiff_t n = (ptrdiff_t)(out_w - 16 * j < 16 ? out_w - 16 * j : 16);
        if (stride_w == 1) {
          const ptrdiff_t c = c0 + 16 * (ptrdiff_t)j;
          ma[j] = ck_lane_span(-c, w - c) & ck_lane_span(0, n);
        } else {
          const ptrdiff_t c = c0 + 32 * (ptrdiff_t)j;
          const ptrdiff_t end = (w < c + 2 * n - 1 ? w : c + 2 * n - 1) - c;
          ma[j] = ck_lane_span(-c, end);
          mb[j] = ck_lane_span(-c - 16, end - 16);
        }
      }
    }
    for (size_t c = 0; c < channels; c++) {
      const float* plane = x + c * in_h * in_w;
      for (size_t r = 0; r < kh; r++) {
        float* out = dst + ((c * kh + r) * kw + s) * dst_stride;
        for (size_t oy = first_row; oy <= last_row; oy++) {
          const size_t begin = oy == first_row ? first_pixel - oy * out_w : 0;
          const size_t end = oy == last_row ? first_pixel + pixel_count - oy * out_w : out_w;
          float* o = out + (oy * out_w + begin - first_pixel);
          const ptrdiff_t iy = (ptrdiff_t)(oy * stride_h + r * dilation_h) - (ptrdiff_t)pad_top;
          if (iy < 0 || iy >= (ptrdiff_t)in_h) {
            for (size_t j = 0; j < end - begin; j++) o[j] = 0.0f;
            continue;
          }
          const float* row = plane + (size_t)iy * in_w;
          if (fast && begin == 0 && end == out_w) {
            if (stride_w == 1) {
              for (size_t j = 0; j + 1 < vectors; j++) {
                _mm512_storeu_ps(o + 16 * j, _mm512_maskz_loadu_ps(ma[j], ck_unchecked_at(row, c0 + 16 * (ptrdiff_t)j)));
              }
              const size_t j = vectors - 1;
              _mm512_mask_storeu_ps(o + 16 * j, last_store,
                                    _mm512_maskz_loadu_ps(ma[j], ck_unchecked_at(row, c0 + 16 * (ptrdiff_t)j)));
            } else {
              for (size_t j = 0; j < vectors; j++) {
                const float* p = ck_unchecked_at(row, c0 + 32 * (ptrdiff_t)j);
                const __m512 a = _mm512_maskz_loadu_ps(ma[j], p);
                const __m512 b = _mm512_maskz_loadu_ps(mb[j], ck_unchecked_at(p, 16));
                const __m512 v = _mm512_permutex2var_ps(a, even, b);
                if (j + 1 < vectors) _mm512_storeu_ps(o + 16 * j, v);
                else _mm512_mask_storeu_ps(o + 16 * j, last_store, v);
              }
            }
            continue;
          }
          const ptrdiff_t first_col = (ptrdiff_t)(begin * stride_w) + c0;
          ck_im2col_segment(row, w, first_col, stride_w, end - begin, o);
        }
      }
    }
  }
}
#undef CK_IM2COL_MAX_VECTORS

#else
void ck_f32_im2col_rows__avx512f(
    const float* x, size_t channels, size_t in_h, size_t in_w, size_t kh, size_t kw, size_t stride_h,
    size_t stride_w, size_t dilation_h, size_t dilation_w, size_t pad_top, size_t pad_left, size_t out_w,
    size_t first_pixel, size_t pixel_count, float* dst, size_t dst_stride) {
  (void)x; (void)channels; (void)in_h; (void)in_w; (void)kh; (void)kw; (void)stride_h; (void)stride_w;
  (void)dilation_h; (void)dilation_w; (void)pad_top; (void)pad_left; (void)out_w; (void)first_pixel;
  (void)pixel_count; (void)dst; (void)dst_stride;
}
#endif
