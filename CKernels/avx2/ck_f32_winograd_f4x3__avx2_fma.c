// Winograd F(4x4, 3x3) input and output transforms for AVX2 + FMA, 8 tiles per vector
// (lane t = tile t of a group of 8), with Lavin and Gray's points 0, +-1, +-2, infinity.
//
// B^T (6x6) and A^T (4x6) are written out as additions and small multiples, each row of
// B^T d as one or two FMAs. Same arithmetic as the portable Swift transforms in
// WinogradF4Transforms.swift, except that a * b + c is fused here.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx2_transpose.h"

#define CK_TARGET __attribute__((target("avx2,fma")))

// B^T x for one 6-vector (x0..x5), in place.
CK_TARGET static inline void ck_f4_input_1d(__m256* x0, __m256* x1, __m256* x2, __m256* x3, __m256* x4,
                                            __m256* x5) {
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
  const __m256 d0 = *x0, d1 = *x1, d2 = *x2, d3 = *x3, d4 = *x4, d5 = *x5;
  const __m256 s12 = _mm256_add_ps(d1, d2), s34 = _mm256_add_ps(d3, d4);
  const __m256 t12 = _mm256_sub_ps(d1, d2), t43 = _mm256_sub_ps(d4, d3);
  const __m256 t42 = _mm256_sub_ps(d4, d2), t31 = _mm256_sub_ps(d3, d1);
  *x0 = _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4));
  *x1 = _mm256_fnmadd_ps(four, s12, s34);
  *x2 = _mm256_fmadd_ps(four, t12, t43);
  *x3 = _mm256_fmadd_ps(two, t31, t42);
  *x4 = _mm256_fnmadd_ps(two, t31, t42);
  *x5 = _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5));
}

// Columns l = 0..5 of one patch row of 8 horizontally consecutive tiles: lane t = p[4t + l].
// Reads p[0 .. 36).
CK_TARGET static inline void ck_f4_gather_row(const float* p, __m256 out[6]) {
  // q_i = [tile i | tile i + 4] (4 columns each).
  const __m256 q0 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)), _mm_loadu_ps(p + 16), 1);
  const __m256 q1 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + 4)), _mm_loadu_ps(p + 20), 1);
  const __m256 q2 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + 8)), _mm_loadu_ps(p + 24), 1);
  const __m256 q3 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + 12)), _mm_loadu_ps(p + 28), 1);
  const __m256 q4 = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + 16)), _mm_loadu_ps(p + 32), 1);
  const __m256 a = _mm256_unpacklo_ps(q0, q1), b = _mm256_unpackhi_ps(q0, q1);
  const __m256 c = _mm256_unpacklo_ps(q2, q3), d = _mm256_unpackhi_ps(q2, q3);
  out[0] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0));
  out[1] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2));
  out[2] = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(1, 0, 1, 0));
  out[3] = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(3, 2, 3, 2));
  // Columns 4 and 5 of tile t are columns 0 and 1 of "tile t + 1".
  const __m256 e = _mm256_unpacklo_ps(q1, q2), f = _mm256_unpacklo_ps(q3, q4);
  out[4] = _mm256_shuffle_ps(e, f, _MM_SHUFFLE(1, 0, 1, 0));
  out[5] = _mm256_shuffle_ps(e, f, _MM_SHUFFLE(3, 2, 3, 2));
}

// V = B^T d B for the 6x6 patch d (row-major, transformed in place), stored to
// v[position * v_position_stride].
CK_TARGET static inline void ck_f4_input_2d_store(__m256 d[36], float* v, size_t v_position_stride) {
  for (int l = 0; l < 6; l++) {
    ck_f4_input_1d(&d[l], &d[6 + l], &d[12 + l], &d[18 + l], &d[24 + l], &d[30 + l]);
  }
  for (int i = 0; i < 6; i++) {
    __m256* r = d + 6 * i;
    ck_f4_input_1d(&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]);
    for (int j = 0; j < 6; j++) _mm256_storeu_ps(v + (size_t)(6 * i + j) * v_position_stride, r[j]);
  }
}

CK_TARGET void ck_f32_winograd_f4x3_input_ukernel__avx2_fma(
    size_t channels, const float* x, size_t channel_stride, size_t row_stride,
    ptrdiff_t row_a, ptrdiff_t row_b, uint32_t b_from_lane, const int32_t* offsets,
    float* v, size_t v_channel_stride, size_t v_position_stride) {
  __m256 d[36];
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 from_b = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)b_from_lane - 1)));
  for (size_t c = 0; c < channels; c++) {
    const float* base = x + c * channel_stride;
    if (offsets != NULL) {
      for (int k = 0; k < 6; k++) {
        // Columns 0..5 of the 8 tiles' patch row k (8 floats read per tile).
        __m256 columns[8];
        ck_transpose_rows8x8(base + (size_t)k * row_stride, offsets, columns);
        for (int l = 0; l < 6; l++) d[6 * k + l] = columns[l];
      }
    } else {
      for (int k = 0; k < 6; k++) {
        const float* row = base + row_a + (ptrdiff_t)k * (ptrdiff_t)row_stride;
        // The next group of tiles reads row[32 .. 68): fetch it into L2 now (one plane per
        // channel is too many streams for the hardware prefetchers).
        _mm_prefetch((const char*)(row + 48), _MM_HINT_T1);
        _mm_prefetch((const char*)(row + 64), _MM_HINT_T1);
        ck_f4_gather_row(row, d + 6 * k);
        if (b_from_lane < 8) {
          __m256 e[6];
          ck_f4_gather_row(base + row_b + (ptrdiff_t)k * (ptrdiff_t)row_stride, e);
          for (int l = 0; l < 6; l++) d[6 * k + l] = _mm256_blendv_ps(d[6 * k + l], e[l], from_b);
        }
      }
    }
    ck_f4_input_2d_store(d, v + c * v_channel_stride, v_position_stride);
  }
}

// A^T m for one 6-vector.
CK_TARGET static inline void ck_f4_output_1d(__m256 m0, __m256 m1, __m256 m2, __m256 m3, __m256 m4, __m256 m5,
                                             __m256* y0, __m256* y1, __m256* y2, __m256* y3) {
  const __m256 p12 = _mm256_add_ps(m1, m2), q12 = _mm256_sub_ps(m1, m2);
  const __m256 p34 = _mm256_add_ps(m3, m4), q34 = _mm256_sub_ps(m3, m4);
  *y0 = _mm256_add_ps(_mm256_add_ps(m0, p12), p34);
  *y1 = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), q34, q12);
  *y2 = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), p34, p12);
  *y3 = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), q34, q12), m5);
}

CK_TARGET void ck_f32_winograd_f4x3_output_ukernel__avx2_fma(
    size_t channels, const float* m, size_t m_channel_stride, size_t m_position_stride,
    const float* bias, uint32_t flags, float lo, float hi,
    float* y, size_t y_channel_stride, size_t y_row_stride, const ptrdiff_t* tile_offsets,
    const int32_t* tile_extents) {
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  for (size_t k = 0; k < channels; k++) {
    const float* mk = m + k * m_channel_stride;
    __m256 t[24];
    for (int b = 0; b < 6; b++) {
      ck_f4_output_1d(_mm256_loadu_ps(mk + (size_t)b * m_position_stride),
                      _mm256_loadu_ps(mk + (size_t)(6 + b) * m_position_stride),
                      _mm256_loadu_ps(mk + (size_t)(12 + b) * m_position_stride),
                      _mm256_loadu_ps(mk + (size_t)(18 + b) * m_position_stride),
                      _mm256_loadu_ps(mk + (size_t)(24 + b) * m_position_stride),
                      _mm256_loadu_ps(mk + (size_t)(30 + b) * m_position_stride),
                      &t[b], &t[6 + b], &t[12 + b], &t[18 + b]);
    }
    const __m256 bv = _mm256_set1_ps(bias[k]);
    float* yk = y + k * y_channel_stride;
    for (int i = 0; i < 4; i++) {
      const __m256* r = t + 6 * i;
      __m256 o[4];
      ck_f4_output_1d(r[0], r[1], r[2], r[3], r[4], r[5], &o[0], &o[1], &o[2], &o[3]);
      for (int j = 0; j < 4; j++) {
        o[j] = _mm256_add_ps(o[j], bv);
        // max(lo, x) and min(hi, x) return x when x is NaN (the second operand wins).
        if (flags & CK_GEMM_CLAMP) o[j] = _mm256_min_ps(vhi, _mm256_max_ps(vlo, o[j]));
      }
      // Output row i of the 8 tiles: 32 contiguous floats o0[0] o1[0] o2[0] o3[0] o0[1] ...
      const __m256 lo01 = _mm256_unpacklo_ps(o[0], o[1]), hi01 = _mm256_unpackhi_ps(o[0], o[1]);
      const __m256 lo23 = _mm256_unpacklo_ps(o[2], o[3]), hi23 = _mm256_unpackhi_ps(o[2], o[3]);
      const __m256 s0 = _mm256_shuffle_ps(lo01, lo23, _MM_SHUFFLE(1, 0, 1, 0));  // tiles 0, 4
      const __m256 s1 = _mm256_shuffle_ps(lo01, lo23, _MM_SHUFFLE(3, 2, 3, 2));  // tiles 1, 5
      const __m256 s2 = _mm256_shuffle_ps(hi01, hi23, _MM_SHUFFLE(1, 0, 1, 0));  // tiles 2, 6
      const __m256 s3 = _mm256_shuffle_ps(hi01, hi23, _MM_SHUFFLE(3, 2, 3, 2));  // tiles 3, 7
      if (tile_offsets != NULL) {
        // Row i of each stored tile: 4 floats at its own place.
        const __m128 rows[8] = {_mm256_castps256_ps128(s0), _mm256_castps256_ps128(s1),
                                _mm256_castps256_ps128(s2), _mm256_castps256_ps128(s3),
                                _mm256_extractf128_ps(s0, 1), _mm256_extractf128_ps(s1, 1),
                                _mm256_extractf128_ps(s2, 1), _mm256_extractf128_ps(s3, 1)};
        for (int t = 0; t < 8; t++) {
          const int tile_rows = tile_extents[t] >> 4, tile_cols = tile_extents[t] & 15;
          if (tile_offsets[t] < 0 || i >= tile_rows) continue;
          float* dst = yk + tile_offsets[t] + (ptrdiff_t)i * (ptrdiff_t)y_row_stride;
          if (tile_cols == 4) {
            _mm_storeu_ps(dst, rows[t]);
          } else {
            // A tile cut by the right edge of the output.
            float row[4];
            _mm_storeu_ps(row, rows[t]);
            for (int j = 0; j < tile_cols; j++) dst[j] = row[j];
          }
        }
        continue;
      }
      float* row = yk + (size_t)i * y_row_stride;
      _mm256_storeu_ps(row, _mm256_permute2f128_ps(s0, s1, 0x20));
      _mm256_storeu_ps(row + 8, _mm256_permute2f128_ps(s2, s3, 0x20));
      _mm256_storeu_ps(row + 16, _mm256_permute2f128_ps(s0, s1, 0x31));
      _mm256_storeu_ps(row + 24, _mm256_permute2f128_ps(s2, s3, 0x31));
    }
  }
}

#else
void ck_f32_winograd_f4x3_input_ukernel__avx2_fma(
    size_t channels, const float* x, size_t channel_stride, size_t row_stride,
    ptrdiff_t row_a, ptrdiff_t row_b, uint32_t b_from_lane, const int32_t* offsets,
    float* v, size_t v_channel_stride, size_t v_position_stride) {
  (void)channels; (void)x; (void)channel_stride; (void)row_stride; (void)row_a; (void)row_b;
  (void)b_from_lane; (void)offsets; (void)v; (void)v_channel_stride; (void)v_position_stride;
}
void ck_f32_winograd_f4x3_output_ukernel__avx2_fma(
    size_t channels, const float* m, size_t m_channel_stride, size_t m_position_stride,
    const float* bias, uint32_t flags, float lo, float hi,
    float* y, size_t y_channel_stride, size_t y_row_stride, const ptrdiff_t* tile_offsets,
    const int32_t* tile_extents) {
  (void)tile_offsets; (void)channels; (void)m; (void)m_channel_stride; (void)m_position_stride; (void)bias; (void)flags;
  (void)lo; (void)hi; (void)y; (void)y_channel_stride; (void)y_row_stride; (void)tile_extents;
}
#endif
