// Depthwise convolution of one plane for AVX-512F: square 3x3, 5x5 and 7x7 filters, dilation 1
// or 2, stride 1 or 2 (other filters, strides and dilations run the AVX2 kernel).
//
// Blocks of 2 output rows x 2 vectors of 16 outputs (4 rows x 1 vector on planes one vector
// wide). Each input row of a block is loaded once and its K horizontal taps are built in
// registers: at stride 1 from two loads and K - 1 valignd (the AVX2 kernel loads each tap and is
// load-bound), at stride 2 from three loads, the even and odd lanes (vpermt2ps) and valignd of
// those. Every load is masked to the lanes inside the plane, so the kernel reads the caller's
// plane in place: the zero border (padding) is the masked-off lanes and the rows outside the
// plane, and nothing outside the plane is read or written. The AVX2 kernel's contract (a
// zero-padded plane) is the case of a plane without border. Each output's sum is the AVX2
// kernel's (bias, the K x K taps in row-major order, the prior output added before the clamp):
// both kernels give the same bits, with or without a copied border.
//
// Measured alone (hot plane, one thread, Zen 4, same run): 1.4-1.9x the AVX2 kernel at stride 1
// and 1.15-1.9x at stride 2 on MobileNetV2's 3x3 planes (7x7 to 112x112), before the in-place
// reading, which gained another 1.0-1.5x.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx512_mask.h"

#define CK_TARGET __attribute__((target("avx512f")))

// Lanes 0 .. n-1 (none for n <= 0, all for n >= 16).
CK_TARGET static inline __mmask16 ck_lanes_below(ptrdiff_t n) { return ck_lane_span(0, n); }

// The plane as the kernel sees it: in_h rows of in_w floats, row_stride apart, inside an implicit
// zero border (pad_top rows above, pad_left columns to the left, zeros past the right and bottom
// edges). A zero-padded plane is the case in_w = row_stride, no pads.
typedef struct {
  const float* x;
  ptrdiff_t row_stride, in_h, in_w, pad_top, pad_left;
} ck_dw_plane;

// valignd: lanes n .. 15 of lo followed by lanes 0 .. n - 1 of hi (_mm512_alignr_epi32(hi, lo, n)),
// as an instruction: clang rewrites the intrinsic into vpermt2ps / vpermt2pd with constant index
// vectors, which costs a register per shift and a copy per use (the index is overwritten), and
// made the 7x7 kernel spill its taps.
#define CK_ALIGNR(hi, lo, n)                                                                   \
  ({                                                                                           \
    __m512i ck_r_;                                                                             \
    __asm__("valignd %3, %2, %1, %0" : "=v"(ck_r_) : "v"(hi), "v"(lo), "i"(n));                \
    ck_r_;                                                                                     \
  })

// The K taps x[j + D * s], s < K, for outputs j < n of a row (stride 1, dilation D) starting at
// column c0: columns c0 .. c0 + n + D * (K - 1) - 1 (at most 28 for K <= 7, D <= 2), zero outside
// the plane (m0, m1: the lanes of the two loads inside it).
CK_TARGET __attribute__((always_inline)) static inline void ck_dw_taps_s1(
    const int K, const int D, const float* row, ptrdiff_t c0, __mmask16 m0, __mmask16 m1, __m512 t[7]) {
  const __m512i a = _mm512_castps_si512(_mm512_maskz_loadu_ps(m0, ck_unchecked_at(row, c0)));
  const __m512i b = _mm512_castps_si512(_mm512_maskz_loadu_ps(m1, ck_unchecked_at(row, c0 + 16)));
  t[0] = _mm512_castsi512_ps(a);
  if (D == 1) {
    if (K > 1) t[1] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 1));
    if (K > 2) t[2] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 2));
    if (K > 3) t[3] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 3));
    if (K > 4) t[4] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 4));
    if (K > 5) t[5] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 5));
    if (K > 6) t[6] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 6));
  } else {
    if (K > 1) t[1] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 2));
    if (K > 2) t[2] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 4));
    if (K > 3) t[3] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 6));
    if (K > 4) t[4] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 8));
    if (K > 5) t[5] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 10));
    if (K > 6) t[6] = _mm512_castsi512_ps(CK_ALIGNR(b, a, 12));
  }
}

// The K taps x[2j + s], s < K, for outputs j < n of a row (stride 2) starting at column c0:
// columns c0 .. c0 + 2n + K - 3 (at most 48 for K <= 7), zero outside the plane. Even taps are
// the even lanes shifted by s / 2, odd taps the odd lanes shifted by (s - 1) / 2.
CK_TARGET __attribute__((always_inline)) static inline void ck_dw_taps_s2(
    const int K, const int D, const float* row, ptrdiff_t c0, __mmask16 m0, __mmask16 m1, __mmask16 m2,
    __m512 t[7]) {
  const __m512 a = _mm512_maskz_loadu_ps(m0, ck_unchecked_at(row, c0));
  const __m512 b = _mm512_maskz_loadu_ps(m1, ck_unchecked_at(row, c0 + 16));
  const __m512 c = _mm512_maskz_loadu_ps(m2, ck_unchecked_at(row, c0 + 32));
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  // Columns 0, 2, .., 30 and 1, 3, .., 31 of the row segment; past them, columns 32, 34, .. and
  // 33, 35, .. (from c).
  const __m512i e0 = _mm512_castps_si512(_mm512_permutex2var_ps(a, even, b));
  const __m512i o0 = _mm512_castps_si512(_mm512_permutex2var_ps(a, odd, b));
  const __m512i e1 = _mm512_castps_si512(K > 3 || D == 2 ? _mm512_permutexvar_ps(even, c) : c);
  t[0] = _mm512_castsi512_ps(e0);
  if (D == 2) {
    // Dilation 2: every tap is an even column, x[2j + 2s] = the even lanes shifted by s.
    if (K > 1) t[1] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 1));
    if (K > 2) t[2] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 2));
    if (K > 3) t[3] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 3));
    if (K > 4) t[4] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 4));
    if (K > 5) t[5] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 5));
    if (K > 6) t[6] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 6));
    return;
  }
  const __m512i o1 = _mm512_castps_si512(_mm512_permutexvar_ps(odd, c));
  if (K > 1) t[1] = _mm512_castsi512_ps(o0);
  // 3x3: the intrinsic, which clang turns into one permute of its own that ran 1.2x faster
  // than valignd on 112x112 planes; larger filters need the instruction (see CK_ALIGNR).
  if (K == 3) t[2] = _mm512_castsi512_ps(_mm512_alignr_epi32(e1, e0, 1));
  if (K > 3) t[2] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 1));
  if (K > 3) t[3] = _mm512_castsi512_ps(CK_ALIGNR(o1, o0, 1));
  if (K > 4) t[4] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 2));
  if (K > 5) t[5] = _mm512_castsi512_ps(CK_ALIGNR(o1, o0, 2));
  if (K > 6) t[6] = _mm512_castsi512_ps(CK_ALIGNR(e1, e0, 3));
}

// The columns of one vector of outputs: the first input column c0 it reads and the lanes of its
// two (stride 1) or three (stride 2) loads that are inside the plane.
typedef struct {
  ptrdiff_t c0;
  __mmask16 m[3];
} ck_dw_cols;

CK_TARGET static inline ck_dw_cols ck_dw_columns(const ck_dw_plane* src, size_t ox, size_t n, const int K,
                                                 const int S, const int D) {
  ck_dw_cols c;
  c.c0 = (ptrdiff_t)(S * ox) - src->pad_left;
  ptrdiff_t end = c.c0 + (ptrdiff_t)(S * (n - 1)) + D * (K - 1) + 1;
  if (end > src->in_w) end = src->in_w;
  for (int j = 0; j < 3; j++) c.m[j] = ck_lane_span(-c.c0 - 16 * j, end - c.c0 - 16 * j);
  return c;
}

// RB (1 to 4) output rows x VB (1 or 2) vectors of outputs starting at (oy, ox) for a K x K
// filter; n_last: outputs in the last vector (1..16), cols: the vectors' columns. Each output
// vector's K x K taps are one chain of dependent FMAs (the order that gives the AVX2 kernel's
// bits), so a block needs RB x VB >= 4 chains to hide the FMA latency: narrow planes (one vector
// per row) run 4 rows per block. With CHECK_ROWS (blocks at the top or bottom edge), input rows
// outside the plane load nothing (zero taps), so the block computes exactly what it computes
// over a zero-padded plane. 3x3 weights stay in registers (w); larger filters broadcast theirs
// from wt in each FMA.
CK_TARGET __attribute__((always_inline)) static inline void ck_dw_block(
    const ck_dw_plane* src, size_t oy, size_t ox, const int K, const int S, const int D, const __m512 w[9],
    const float* wt,
    __m512 vbias, const int RB, const int VB, const int CHECK_ROWS, const ck_dw_cols cols[2], size_t n_last,
    float* y, size_t out_w, int accumulate, int clamp, __m512 vlo, __m512 vhi) {
  __m512 acc[4][2];
#pragma clang loop unroll(full)
  for (int i = 0; i < RB; i++) {
#pragma clang loop unroll(full)
    for (int v = 0; v < VB; v++) acc[i][v] = vbias;
  }
  const ptrdiff_t row0 = (ptrdiff_t)(S * oy) - src->pad_top;
#pragma clang loop unroll(full)
  for (int v = 0; v < VB; v++) {
    // Input row k feeds output row i through filter row (k - S * i) / D.
#pragma clang loop unroll(full)
    for (int k = 0; k < S * (RB - 1) + D * (K - 1) + 1; k++) {
      const ptrdiff_t iy = row0 + k;
      __mmask16 m0 = cols[v].m[0], m1 = cols[v].m[1], m2 = cols[v].m[2];
      const float* row;
      if (CHECK_ROWS) {
        const int inside = iy >= 0 && iy < src->in_h;
        const __mmask16 rows_mask = (__mmask16)(inside ? 0xFFFF : 0);
        m0 &= rows_mask; m1 &= rows_mask; m2 &= rows_mask;
        row = ck_unchecked_at(src->x, (inside ? iy : 0) * src->row_stride);
      } else {
        row = src->x + iy * src->row_stride;
      }
      __m512 t[7];
      if (S == 1) ck_dw_taps_s1(K, D, row, cols[v].c0, m0, m1, t);
      else ck_dw_taps_s2(K, D, row, cols[v].c0, m0, m1, m2, t);
      // The weights' address, opaque to the compiler for each input row: each FMA broadcasts
      // its weight from memory (clang otherwise hoists all 25 or 49 broadcasts out of the loops
      // into registers and spills them, which ran 7x7 planes at a third of the FMA rate).
      const float* wk = wt;
      __asm__ volatile("" : "+r"(wk));
#pragma clang loop unroll(full)
      for (int i = 0; i < RB; i++) {
        if (k - S * i < 0 || (k - S * i) % D != 0) continue;
        const int r = (k - S * i) / D;
        if (r >= K) continue;
#pragma clang loop unroll(full)
        for (int s = 0; s < K; s++) {
          const __m512 wv = K == 3 ? w[r * 3 + s] : _mm512_set1_ps(wk[r * K + s]);
          acc[i][v] = _mm512_fmadd_ps(wv, t[s], acc[i][v]);
        }
      }
    }
  }
  float* yb = y + oy * out_w + ox;
#pragma clang loop unroll(full)
  for (int i = 0; i < RB; i++) {
#pragma clang loop unroll(full)
    for (int v = 0; v < VB; v++) {
      const __mmask16 m = ck_lanes_below(v + 1 < VB ? 16 : (ptrdiff_t)n_last);
      float* o = yb + i * out_w + v * 16;
      __m512 a = acc[i][v];
      if (accumulate) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, o));
      // max(lo, a) and min(hi, .) return a when a is NaN (the second operand): NaN propagates.
      if (clamp) a = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a));
      _mm512_mask_storeu_ps(o, m, a);
    }
  }
}

// One block of RB rows at oy, checking its input rows against the plane only where they can
// leave it (the top and bottom blocks).
#define CK_DW_BLOCK(K, S, D, RB, VB, cols, n_last)                                                       \
  do {                                                                                                   \
    const ptrdiff_t first = (ptrdiff_t)((S) * oy) - src->pad_top;                                        \
    if (first >= 0 && first + (S) * ((RB) - 1) + (D) * ((K) - 1) < src->in_h) {                         \
      ck_dw_block(src, oy, ox, K, S, D, w, wt, vb, RB, VB, 0, cols, n_last, y, out_w, accumulate, clamp, vlo, \
                  vhi);                                                                                  \
    } else {                                                                                             \
      ck_dw_block(src, oy, ox, K, S, D, w, wt, vb, RB, VB, 1, cols, n_last, y, out_w, accumulate, clamp, vlo, \
                  vhi);                                                                                  \
    }                                                                                                    \
  } while (0)

// The plane loop for a K x K filter and stride S, by column blocks of 32 outputs (2 vectors, 2
// rows per block) or, for the last 16 or fewer, of 1 vector (4 rows per block), smaller at the
// bottom.
#define CK_DW_PLANE_FUNCTION(NAME, K, S, D)                                                               \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                  \
      const ck_dw_plane* src, size_t out_h, size_t out_w, const float* wt, float bias,                   \
      int accumulate, int clamp, float lo, float hi, float* y) {                                         \
    __m512 w[9];                                                                                         \
    for (int t = 0; t < 9; t++) w[t] = (K) == 3 ? _mm512_set1_ps(wt[t]) : _mm512_setzero_ps();           \
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);         \
    for (size_t ox = 0; ox < out_w; ox += 32) {                                                          \
      const size_t left = out_w - ox;                                                                    \
      ck_dw_cols cols[2];                                                                                \
      if (left > 16) {                                                                                   \
        const size_t n = left - 16 < 16 ? left - 16 : 16;                                                \
        cols[0] = ck_dw_columns(src, ox, 16, K, S, D);                                                   \
        cols[1] = ck_dw_columns(src, ox + 16, n, K, S, D);                                               \
        for (size_t oy = 0; oy < out_h; oy += 2) {                                                       \
          if (out_h - oy >= 2) CK_DW_BLOCK(K, S, D, 2, 2, cols, n);                                      \
          else CK_DW_BLOCK(K, S, D, 1, 2, cols, n);                                                      \
        }                                                                                                \
      } else {                                                                                           \
        cols[0] = cols[1] = ck_dw_columns(src, ox, left, K, S, D);                                       \
        for (size_t oy = 0; oy < out_h; oy += 4) {                                                       \
          switch (out_h - oy) {                                                                          \
            case 1: CK_DW_BLOCK(K, S, D, 1, 1, cols, left); break;                                       \
            case 2: CK_DW_BLOCK(K, S, D, 2, 1, cols, left); break;                                       \
            case 3: CK_DW_BLOCK(K, S, D, 3, 1, cols, left); break;                                       \
            default: CK_DW_BLOCK(K, S, D, 4, 1, cols, left); break;                                      \
          }                                                                                              \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }
CK_DW_PLANE_FUNCTION(ck_dw_plane_3x3_s1, 3, 1, 1)
CK_DW_PLANE_FUNCTION(ck_dw_plane_3x3_s2, 3, 2, 1)
CK_DW_PLANE_FUNCTION(ck_dw_plane_5x5_s1, 5, 1, 1)
CK_DW_PLANE_FUNCTION(ck_dw_plane_5x5_s2, 5, 2, 1)
CK_DW_PLANE_FUNCTION(ck_dw_plane_7x7_s1, 7, 1, 1)
CK_DW_PLANE_FUNCTION(ck_dw_plane_7x7_s2, 7, 2, 1)
CK_DW_PLANE_FUNCTION(ck_dw_plane_3x3_s1_d2, 3, 1, 2)
CK_DW_PLANE_FUNCTION(ck_dw_plane_3x3_s2_d2, 3, 2, 2)
CK_DW_PLANE_FUNCTION(ck_dw_plane_5x5_s1_d2, 5, 1, 2)
CK_DW_PLANE_FUNCTION(ck_dw_plane_5x5_s2_d2, 5, 2, 2)
CK_DW_PLANE_FUNCTION(ck_dw_plane_7x7_s1_d2, 7, 1, 2)
CK_DW_PLANE_FUNCTION(ck_dw_plane_7x7_s2_d2, 7, 2, 2)
#undef CK_DW_PLANE_FUNCTION
#undef CK_DW_BLOCK
#undef CK_ALIGNR

// Whether the AVX-512F kernel runs this filter: square 3x3, 5x5 or 7x7, dilation 1 or 2, stride 1
// or 2.
static int ck_dw_avx512_runs(size_t kh, size_t kw, size_t stride, size_t dilation) {
  return kh == kw && (kh == 3 || kh == 5 || kh == 7) && (dilation == 1 || dilation == 2) &&
         (stride == 1 || stride == 2);
}

CK_TARGET static void ck_dw_plane_square(const ck_dw_plane* src, size_t out_h, size_t out_w, size_t k, size_t stride,
                                         size_t dilation, const float* w, float bias, uint32_t flags, float lo,
                                         float hi, float* y) {
  const int clamp = (flags & CK_GEMM_CLAMP) != 0;
  const int accumulate = (flags & CK_CONV_ACCUMULATE) != 0;
  if (dilation == 2) {
    switch (k * 10 + stride) {
      case 31: ck_dw_plane_3x3_s1_d2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
      case 32: ck_dw_plane_3x3_s2_d2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
      case 51: ck_dw_plane_5x5_s1_d2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
      case 52: ck_dw_plane_5x5_s2_d2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
      case 71: ck_dw_plane_7x7_s1_d2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
      default: ck_dw_plane_7x7_s2_d2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
    }
    return;
  }
  switch (k * 10 + stride) {
    case 31: ck_dw_plane_3x3_s1(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
    case 32: ck_dw_plane_3x3_s2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
    case 51: ck_dw_plane_5x5_s1(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
    case 52: ck_dw_plane_5x5_s2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
    case 71: ck_dw_plane_7x7_s1(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
    default: ck_dw_plane_7x7_s2(src, out_h, out_w, w, bias, accumulate, clamp, lo, hi, y); break;
  }
}

CK_TARGET void ck_f32_dwconv_plane_ukernel__avx512f(
    const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t kh, size_t kw, size_t stride,
    size_t dilation, const float* w, float bias, uint32_t flags, float lo, float hi, float* y) {
  if (!ck_dw_avx512_runs(kh, kw, stride, dilation)) {
    ck_f32_dwconv_plane_ukernel__avx2_fma(x, x_row_stride, out_h, out_w, kh, kw, stride, dilation, w, bias, flags,
                                          lo, hi, y);
    return;
  }
  // A zero-padded plane: every row the outputs need, read up to the row stride.
  const ck_dw_plane src = {x, (ptrdiff_t)x_row_stride, (ptrdiff_t)(stride * (out_h - 1) + dilation * (kh - 1) + 1),
                           (ptrdiff_t)x_row_stride, 0, 0};
  ck_dw_plane_square(&src, out_h, out_w, kh, stride, dilation, w, bias, flags, lo, hi, y);
}

CK_TARGET void ck_f32_dwconv_unpadded_ukernel__avx512f(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kernel_size, size_t stride, size_t dilation, const float* w, float bias, uint32_t flags, float lo,
    float hi, float* y) {
  if (!ck_dw_avx512_runs(kernel_size, kernel_size, stride, dilation)) return;
  const ck_dw_plane src = {x, (ptrdiff_t)in_w, (ptrdiff_t)in_h, (ptrdiff_t)in_w, (ptrdiff_t)pad_top,
                           (ptrdiff_t)pad_left};
  ck_dw_plane_square(&src, out_h, out_w, kernel_size, stride, dilation, w, bias, flags, lo, hi, y);
}

#else
void ck_f32_dwconv_plane_ukernel__avx512f(
    const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t kh, size_t kw, size_t stride,
    size_t dilation, const float* w, float bias, uint32_t flags, float lo, float hi, float* y) {
  (void)x; (void)x_row_stride; (void)out_h; (void)out_w; (void)kh; (void)kw; (void)stride; (void)dilation;
  (void)w; (void)bias; (void)flags; (void)lo; (void)hi; (void)y;
}
void ck_f32_dwconv_unpadded_ukernel__avx512f(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kernel_size, size_t stride, size_t dilation, const float* w, float bias, uint32_t flags, float lo,
    float hi, float* y) {
  (void)dilation;
  (void)x; (void)in_h; (void)in_w; (void)pad_top; (void)pad_left; (void)out_h; (void)out_w; (void)kernel_size;
  (void)stride; (void)w; (void)bias; (void)flags; (void)lo; (void)hi; (void)y;
}
#endif
