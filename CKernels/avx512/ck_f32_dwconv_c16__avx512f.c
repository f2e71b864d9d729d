// Depthwise convolution of 16 channels at a time for AVX-512F, the channels as the vector (the
// layout oneDNN's depthwise kernels compute in), for planes whose rows fill 16-pixel vectors
// poorly: rows of 7, 9 or 17 outputs use 7, 9 and 17 of 16, 16 and 32 lanes of the plane kernel's
// row vectors, every lane here.
//
// Per call: the channels' planes are transposed, 16 x 16 floats at a time, into a zero-padded
// pixel-major copy (scratch[(iy * Wp + ix) * 16 + channel], the border zero); then each output
// row is cut into balanced tiles of at most 16 pixels, each pixel one accumulator of 16 channels;
// each tap loads its 16 weights once for the tile and every pixel's 16 inputs; the tile's
// accumulators are transposed back into 16 rows of pixels and stored into the channels' output
// planes (masked to the tile's pixels and the block's channels). Each output's sum is the AVX2
// plane kernel's (bias, the taps in row-major order over the zero-padded plane, the prior output
// added before the clamp): the same bits.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx512_mask.h"

#define CK_TARGET __attribute__((target("avx512f")))

// Transposes the 16 x 16 floats r[i][j] -> r[j][i] in registers.
CK_TARGET __attribute__((always_inline)) static inline void ck_transpose_16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
}

// The zero-padded pixel-major copy of `channels` planes (in_h x in_w, plane_stride apart): pad_top
// rows and pad_left columns of zeros before the plane, zeros after it, wp x hp pixels in all
// (columns and rows of the plane past them are not needed and not copied).
CK_TARGET static void ck_dwc16_pack(const float* x, size_t plane_stride, ptrdiff_t in_h, ptrdiff_t in_w,
                                    ptrdiff_t pad_top, ptrdiff_t pad_left, ptrdiff_t hp, ptrdiff_t wp,
                                    size_t channels, float* scratch) {
  const __m512 zero = _mm512_setzero_ps();
  // Columns pad_left .. pad_left + cols - 1 of rows pad_top .. pad_top + rows - 1 hold the plane.
  ptrdiff_t rows = in_h, cols = in_w;
  if (pad_top + rows > hp) rows = hp - pad_top;
  if (pad_left + cols > wp) cols = wp - pad_left;
  if (rows < 0) rows = 0;
  if (cols < 0) cols = 0;
  for (ptrdiff_t iy = 0; iy < hp; iy++) {
    float* row = scratch + iy * wp * 16;
    const ptrdiff_t y = iy - pad_top;
    if (y < 0 || y >= rows || cols == 0) {
      for (ptrdiff_t ix = 0; ix < wp; ix++) _mm512_storeu_ps(row + ix * 16, zero);
      continue;
    }
    for (ptrdiff_t ix = 0; ix < pad_left; ix++) _mm512_storeu_ps(row + ix * 16, zero);
    for (ptrdiff_t ix = pad_left + cols; ix < wp; ix++) _mm512_storeu_ps(row + ix * 16, zero);
    for (ptrdiff_t c0 = 0; c0 < cols; c0 += 16) {
      const ptrdiff_t n = cols - c0 < 16 ? cols - c0 : 16;
      const __mmask16 m = ck_lane_span(0, n);
      __m512 v[16];
      for (size_t ch = 0; ch < 16; ch++) {
        v[ch] = ch < channels ? _mm512_maskz_loadu_ps(m, x + ch * plane_stride + y * in_w + c0) : zero;
      }
      ck_transpose_16x16(v);
      float* dst = row + (pad_left + c0) * 16;
      for (ptrdiff_t j = 0; j < n; j++) _mm512_storeu_ps(dst + j * 16, v[j]);
    }
  }
}

// N (1 to 16) pixels of one output row, S floats x 16 apart in the copy, from src (the first
// pixel's top-left tap): acc[j] = bias + sum over the kh x kw taps, row-major, of w[tap] * x.
CK_TARGET __attribute__((always_inline)) static inline void ck_dwc16_tile(
    const float* src, const int S, const int N, size_t kh, size_t kw, ptrdiff_t tap_col, ptrdiff_t tap_row,
    const float* w, __m512 vbias, __m512 acc[16]) {
#pragma clang loop unroll(full)
  for (int j = 0; j < N; j++) acc[j] = vbias;
  for (size_t r = 0; r < kh; r++) {
    const float* xr = src + (ptrdiff_t)r * tap_row;
    for (size_t s = 0; s < kw; s++) {
      const __m512 wv = _mm512_loadu_ps(w + (r * kw + s) * 16);
      const float* xs = xr + (ptrdiff_t)s * tap_col;
#pragma clang loop unroll(full)
      for (int j = 0; j < N; j++) acc[j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xs + j * S * 16), acc[j]);
    }
  }
}

// Stores N pixels x `channels` of acc (pixel-major) into the channels' output planes at y.
CK_TARGET __attribute__((always_inline)) static inline void ck_dwc16_store(
    __m512 acc[16], const int N, size_t channels, float* y, size_t plane_stride, int accumulate, int clamp,
    __m512 vlo, __m512 vhi) {
#pragma clang loop unroll(full)
  for (int j = N; j < 16; j++) acc[j] = _mm512_setzero_ps();
  ck_transpose_16x16(acc);
  const __mmask16 m = ck_lane_span(0, N);
  for (size_t ch = 0; ch < channels; ch++) {
    float* o = y + ch * plane_stride;
    __m512 a = acc[ch];
    if (accumulate) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, o));
    // max(lo, a) and min(hi, .) return a when a is NaN (the second operand): NaN propagates.
    if (clamp) a = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a));
    _mm512_mask_storeu_ps(o, m, a);
  }
}

#define CK_DWC16_TILE_CASE(S, N)                                                                    \
  case N:                                                                                           \
    ck_dwc16_tile(src, S, N, kh, kw, tap_col, tap_row, w, vbias, acc);                              \
    ck_dwc16_store(acc, N, channels, out, out_plane, accumulate, clamp, vlo, vhi);                  \
    break;

// Every output row in balanced tiles of at most 16 pixels (a row of 17: 9 + 8).
#define CK_DWC16_ROWS_FUNCTION(NAME, S)                                                             \
  CK_TARGET __attribute__((noinline)) static void NAME(                                             \
      const float* scratch, ptrdiff_t wp, size_t out_h, size_t out_w, size_t kh, size_t kw,          \
      size_t dilation, size_t channels, const float* w, const float* bias, int accumulate, int clamp, \
      float lo, float hi, float* y) {                                                               \
    const __m512 vbias = _mm512_loadu_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi); \
    const ptrdiff_t tap_col = (ptrdiff_t)dilation * 16, tap_row = (ptrdiff_t)dilation * wp * 16;    \
    const size_t out_plane = out_h * out_w;                                                         \
    const size_t tiles = (out_w + 15) / 16, base = out_w / tiles, extra = out_w % tiles;            \
    __m512 acc[16];                                                                                 \
    for (size_t oy = 0; oy < out_h; oy++) {                                                         \
      size_t ox = 0;                                                                                \
      for (size_t t = 0; t < tiles; t++) {                                                          \
        const size_t n = base + (t < extra ? 1 : 0);                                                \
        const float* src = scratch + ((ptrdiff_t)(S * oy) * wp + (ptrdiff_t)(S * ox)) * 16;         \
        float* out = y + oy * out_w + ox;                                                           \
        switch (n) {                                                                                \
          CK_DWC16_TILE_CASE(S, 1) CK_DWC16_TILE_CASE(S, 2) CK_DWC16_TILE_CASE(S, 3)                 \
          CK_DWC16_TILE_CASE(S, 4) CK_DWC16_TILE_CASE(S, 5) CK_DWC16_TILE_CASE(S, 6)                 \
          CK_DWC16_TILE_CASE(S, 7) CK_DWC16_TILE_CASE(S, 8) CK_DWC16_TILE_CASE(S, 9)                 \
          CK_DWC16_TILE_CASE(S, 10) CK_DWC16_TILE_CASE(S, 11) CK_DWC16_TILE_CASE(S, 12)              \
          CK_DWC16_TILE_CASE(S, 13) CK_DWC16_TILE_CASE(S, 14) CK_DWC16_TILE_CASE(S, 15)              \
          default: CK_DWC16_TILE_CASE(S, 16)                                                        \
        }                                                                                           \
        ox += n;                                                                                    \
      }                                                                                             \
    }                                                                                               \
  }
CK_DWC16_ROWS_FUNCTION(ck_dwc16_rows_s1, 1)
CK_DWC16_ROWS_FUNCTION(ck_dwc16_rows_s2, 2)
#undef CK_DWC16_ROWS_FUNCTION
#undef CK_DWC16_TILE_CASE

CK_TARGET void ck_f32_dwconv_c16_ukernel__avx512f(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kh, size_t kw, size_t stride, size_t dilation, size_t channels, const float* w, const float* bias,
    uint32_t flags, float lo, float hi, float* scratch, float* y) {
  if ((stride != 1 && stride != 2) || channels == 0 || channels > 16 || out_h == 0 || out_w == 0) return;
  const ptrdiff_t hp = (ptrdiff_t)(stride * (out_h - 1) + dilation * (kh - 1) + 1);
  const ptrdiff_t wp = (ptrdiff_t)(stride * (out_w - 1) + dilation * (kw - 1) + 1);
  ck_dwc16_pack(x, in_h * in_w, (ptrdiff_t)in_h, (ptrdiff_t)in_w, (ptrdiff_t)pad_top, (ptrdiff_t)pad_left, hp, wp,
                channels, scratch);
  const int clamp = (flags & CK_GEMM_CLAMP) != 0;
  const int accumulate = (flags & CK_CONV_ACCUMULATE) != 0;
  if (stride == 1) {
    ck_dwc16_rows_s1(scratch, wp, out_h, out_w, kh, kw, dilation, channels, w, bias, accumulate, clamp, lo, hi, y);
  } else {
    ck_dwc16_rows_s2(scratch, wp, out_h, out_w, kh, kw, dilation, channels, w, bias, accumulate, clamp, lo, hi, y);
  }
}

#else
void ck_f32_dwconv_c16_ukernel__avx512f(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kh, size_t kw, size_t stride, size_t dilation, size_t channels, const float* w, const float* bias,
    uint32_t flags, float lo, float hi, float* scratch, float* y) {
  (void)x; (void)in_h; (void)in_w; (void)pad_top; (void)pad_left; (void)out_h; (void)out_w; (void)kh; (void)kw;
  (void)stride; (void)dilation; (void)channels; (void)w; (void)bias; (void)flags; (void)lo; (void)hi;
  (void)scratch; (void)y;
}
#endif
