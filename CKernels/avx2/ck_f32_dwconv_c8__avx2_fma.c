// Depthwise convolution of 8 channels at a time for AVX2+FMA, the channels as the vector: the
// AVX2 form of ck_f32_dwconv_c16__avx512f.c, for filters whose taps the plane kernel loads one
// by one (5x5, 7x7, dilated), where that kernel is load-bound.
//
// Per call: the channels' planes are transposed, 8 x 8 floats at a time, into a zero-padded
// pixel-major copy (scratch[(iy * Wp + ix) * 8 + channel], the border zero); each output row is
// cut into balanced tiles of at most 12 pixels, each pixel one accumulator of 8 channels; each
// tap loads its 8 weights once for the tile, each FMA reads its pixel's 8 inputs from memory;
// the accumulators are transposed back, 8 pixels at a time, and stored into the channels' output
// planes (masked to the tile's pixels and the block's channels). Each output's sum is the AVX2
// plane kernel's (bias, the taps in row-major order over the zero-padded plane, the prior output
// added before the clamp): the same bits.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx2_mask.h"
#include "ck_avx2_transpose.h"

#define CK_TARGET __attribute__((target("avx2,fma")))

// The zero-padded pixel-major copy of `channels` planes: as ck_dwc16_pack, 8 channels wide.
CK_TARGET static void ck_dwc8_pack(const float* x, size_t plane_stride, ptrdiff_t in_h, ptrdiff_t in_w,
                                   ptrdiff_t pad_top, ptrdiff_t pad_left, ptrdiff_t hp, ptrdiff_t wp, size_t channels,
                                   float* scratch) {
  const __m256 zero = _mm256_setzero_ps();
  ptrdiff_t rows = in_h, cols = in_w;
  if (pad_top + rows > hp) rows = hp - pad_top;
  if (pad_left + cols > wp) cols = wp - pad_left;
  if (rows < 0) rows = 0;
  if (cols < 0) cols = 0;
  for (ptrdiff_t iy = 0; iy < hp; iy++) {
    float* row = scratch + iy * wp * 8;
    const ptrdiff_t y = iy - pad_top;
    if (y < 0 || y >= rows || cols == 0) {
      for (ptrdiff_t ix = 0; ix < wp; ix++) _mm256_storeu_ps(row + ix * 8, zero);
      continue;
    }
    for (ptrdiff_t ix = 0; ix < pad_left; ix++) _mm256_storeu_ps(row + ix * 8, zero);
    for (ptrdiff_t ix = pad_left + cols; ix < wp; ix++) _mm256_storeu_ps(row + ix * 8, zero);
    for (ptrdiff_t c0 = 0; c0 < cols; c0 += 8) {
      const ptrdiff_t n = cols - c0 < 8 ? cols - c0 : 8;
      const __m256i m = ck_lane_mask8((size_t)n);
      __m256 v[8];
      for (size_t ch = 0; ch < 8; ch++) {
        v[ch] = ch < channels ? _mm256_maskload_ps(x + ch * plane_stride + y * in_w + c0, m) : zero;
      }
      ck_transpose8x8(v);
      float* dst = row + (pad_left + c0) * 8;
      for (ptrdiff_t j = 0; j < n; j++) _mm256_storeu_ps(dst + j * 8, v[j]);
    }
  }
}

// N (1 to 12) pixels of one output row, S x 8 floats apart in the copy, from src (the first
// pixel's top-left tap).
CK_TARGET __attribute__((always_inline)) static inline void ck_dwc8_tile(
    const float* src, const int S, const int N, size_t kh, size_t kw, ptrdiff_t tap_col, ptrdiff_t tap_row,
    const float* w, __m256 vbias, __m256 acc[16]) {
#pragma clang loop unroll(full)
  for (int j = 0; j < N; j++) acc[j] = vbias;
  for (size_t r = 0; r < kh; r++) {
    const float* xr = src + (ptrdiff_t)r * tap_row;
    for (size_t s = 0; s < kw; s++) {
      const __m256 wv = _mm256_loadu_ps(w + (r * kw + s) * 8);
      const float* xs = xr + (ptrdiff_t)s * tap_col;
#pragma clang loop unroll(full)
      for (int j = 0; j < N; j++) acc[j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xs + j * S * 8), acc[j]);
    }
  }
}

// Stores N pixels x `channels` of acc (pixel-major), 8 pixels per transpose.
CK_TARGET __attribute__((always_inline)) static inline void ck_dwc8_store(
    __m256 acc[16], const int N, size_t channels, float* y, size_t plane_stride, int accumulate, int clamp,
    __m256 vlo, __m256 vhi) {
#pragma clang loop unroll(full)
  for (int j = N; j < 16; j++) acc[j] = _mm256_setzero_ps();
#pragma clang loop unroll(full)
  for (int g = 0; g < (N + 7) / 8; g++) {
    __m256* part = acc + 8 * g;
    ck_transpose8x8(part);
    const int n = N - 8 * g < 8 ? N - 8 * g : 8;
    const __m256i m = ck_lane_mask8((size_t)n);
    for (size_t ch = 0; ch < channels; ch++) {
      float* o = y + ch * plane_stride + 8 * g;
      __m256 a = part[ch];
      if (accumulate) a = _mm256_add_ps(a, _mm256_maskload_ps(o, m));
      // max(lo, a) and min(hi, .) return a when a is NaN (the second operand): NaN propagates.
      if (clamp) a = _mm256_min_ps(vhi, _mm256_max_ps(vlo, a));
      _mm256_maskstore_ps(o, m, a);
    }
  }
}

#define CK_DWC8_TILE_CASE(S, N)                                                                     \
  case N:                                                                                           \
    ck_dwc8_tile(src, S, N, kh, kw, tap_col, tap_row, w, vbias, acc);                               \
    ck_dwc8_store(acc, N, channels, out, out_plane, accumulate, clamp, vlo, vhi);                   \
    break;

// Every output row in balanced tiles of at most 12 pixels (a row of 17: 9 + 8).
#define CK_DWC8_ROWS_FUNCTION(NAME, S)                                                              \
  CK_TARGET __attribute__((noinline)) static void NAME(                                             \
      const float* scratch, ptrdiff_t wp, size_t out_h, size_t out_w, size_t kh, size_t kw,          \
      size_t dilation, size_t channels, const float* w, const float* bias, int accumulate, int clamp, \
      float lo, float hi, float* y) {                                                               \
    const __m256 vbias = _mm256_loadu_ps(bias), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi); \
    const ptrdiff_t tap_col = (ptrdiff_t)dilation * 8, tap_row = (ptrdiff_t)dilation * wp * 8;      \
    const size_t out_plane = out_h * out_w;                                                         \
    const size_t tiles = (out_w + 11) / 12, base = out_w / tiles, extra = out_w % tiles;            \
    __m256 acc[16];                                                                                 \
    for (size_t oy = 0; oy < out_h; oy++) {                                                         \
      size_t ox = 0;                                                                                \
      for (size_t t = 0; t < tiles; t++) {                                                          \
        const size_t n = base + (t < extra ? 1 : 0);                                                \
        const float* src = scratch + ((ptrdiff_t)(S * oy) * wp + (ptrdiff_t)(S * ox)) * 8;          \
        float* out = y + oy * out_w + ox;                                                           \
        switch (n) {                                                                                \
          CK_DWC8_TILE_CASE(S, 1) CK_DWC8_TILE_CASE(S, 2) CK_DWC8_TILE_CASE(S, 3)                    \
          CK_DWC8_TILE_CASE(S, 4) CK_DWC8_TILE_CASE(S, 5) CK_DWC8_TILE_CASE(S, 6)                    \
          CK_DWC8_TILE_CASE(S, 7) CK_DWC8_TILE_CASE(S, 8) CK_DWC8_TILE_CASE(S, 9)                    \
          CK_DWC8_TILE_CASE(S, 10) CK_DWC8_TILE_CASE(S, 11)                                          \
          default: CK_DWC8_TILE_CASE(S, 12)                                                         \
        }                                                                                           \
        ox += n;                                                                                    \
      }                                                                                             \
    }                                                                                               \
  }
CK_DWC8_ROWS_FUNCTION(ck_dwc8_rows_s1, 1)
CK_DWC8_ROWS_FUNCTION(ck_dwc8_rows_s2, 2)
#undef CK_DWC8_ROWS_FUNCTION
#undef CK_DWC8_TILE_CASE

CK_TARGET void ck_f32_dwconv_c8_ukernel__avx2_fma(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kh, size_t kw, size_t stride, size_t dilation, size_t channels, const float* w, const float* bias,
    uint32_t flags, float lo, float hi, float* scratch, float* y) {
  if ((stride != 1 && stride != 2) || channels == 0 || channels > 8 || out_h == 0 || out_w == 0) return;
  const ptrdiff_t hp = (ptrdiff_t)(stride * (out_h - 1) + dilation * (kh - 1) + 1);
  const ptrdiff_t wp = (ptrdiff_t)(stride * (out_w - 1) + dilation * (kw - 1) + 1);
  ck_dwc8_pack(x, in_h * in_w, (ptrdiff_t)in_h, (ptrdiff_t)in_w, (ptrdiff_t)pad_top, (ptrdiff_t)pad_left, hp, wp,
               channels, scratch);
  const int clamp = (flags & CK_GEMM_CLAMP) != 0;
  const int accumulate = (flags & CK_CONV_ACCUMULATE) != 0;
  if (stride == 1) {
    ck_dwc8_rows_s1(scratch, wp, out_h, out_w, kh, kw, dilation, channels, w, bias, accumulate, clamp, lo, hi, y);
  } else {
    ck_dwc8_rows_s2(scratch, wp, out_h, out_w, kh, kw, dilation, channels, w, bias, accumulate, clamp, lo, hi, y);
  }
}

#else
void ck_f32_dwconv_c8_ukernel__avx2_fma(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kh, size_t kw, size_t stride, size_t dilation, size_t channels, const float* w, const float* bias,
    uint32_t flags, float lo, float hi, float* scratch, float* y) {
  (void)x; (void)in_h; (void)in_w; (void)pad_top; (void)pad_left; (void)out_h; (void)out_w; (void)kh; (void)kw;
  (void)stride; (void)dilation; (void)channels; (void)w; (void)bias; (void)flags; (void)lo; (void)hi;
  (void)scratch; (void)y;
}
#endif
