// Indirect direct-convolution micro-kernel for AVX2 + FMA: 6 output pixels x 16 output
// channels, 12 ymm accumulators (the pixel is broadcast, the output channels are the vector).
//
// The input is read in place (NCHW, or a zero-padded copy of it): pixel j's taps are
// pixels[j][taps[d]], so any stride and dilation need no packing, and a tap is never read
// past its own element (scalar broadcasts, no vector over-read).
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_TARGET __attribute__((target("avx2,fma")))

// Stores 8 channels of 6 consecutive pixels: rows r_j (pixel j, 8 channels) are transposed
// to 8 columns (channel i, pixels 0..5, 2 unused lanes) and column i goes to out + i * stride
// with a masked store of the pixels in `mask` (or, when `full`, plain stores of 6 pixels),
// for i < channels.
CK_TARGET __attribute__((always_inline)) static inline void ck_store_half_transposed(
    __m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5, float* out, size_t stride,
    size_t channels, __m256i mask, int full) {
  const __m256 z = _mm256_setzero_ps();
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, z, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, z, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, z, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, z, _MM_SHUFFLE(3, 2, 3, 2));
  if (full) {
    // 6 pixels: a 4-float and a 2-float store per channel (AMD runs vmaskmovps stores slowly).
#define CK_STORE6(ptr, lo4, hi4)                                          \
    do {                                                                  \
      _mm_storeu_ps((ptr), _mm256_castps256_ps128(lo4));                  \
      _mm_storel_pi((__m64*)((ptr) + 4), _mm256_castps256_ps128(hi4));    \
    } while (0)
    // Column i = [low half of u_i | low half of u_{i+4}] for i < 4, high halves for i >= 4.
    const __m256 h0 = _mm256_permute2f128_ps(u0, u0, 0x11), h1 = _mm256_permute2f128_ps(u1, u1, 0x11);
    const __m256 h2 = _mm256_permute2f128_ps(u2, u2, 0x11), h3 = _mm256_permute2f128_ps(u3, u3, 0x11);
    const __m256 h4 = _mm256_permute2f128_ps(u4, u4, 0x11), h5 = _mm256_permute2f128_ps(u5, u5, 0x11);
    const __m256 h6 = _mm256_permute2f128_ps(u6, u6, 0x11), h7 = _mm256_permute2f128_ps(u7, u7, 0x11);
    if (channels > 0) CK_STORE6(out, u0, u4);
    if (channels > 1) CK_STORE6(out + stride, u1, u5);
    if (channels > 2) CK_STORE6(out + 2 * stride, u2, u6);
    if (channels > 3) CK_STORE6(out + 3 * stride, u3, u7);
    if (channels > 4) CK_STORE6(out + 4 * stride, h0, h4);
    if (channels > 5) CK_STORE6(out + 5 * stride, h1, h5);
    if (channels > 6) CK_STORE6(out + 6 * stride, h2, h6);
    if (channels > 7) CK_STORE6(out + 7 * stride, h3, h7);
#undef CK_STORE6
    return;
  }
  if (channels == 8) {
    _mm256_maskstore_ps(out, mask, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_maskstore_ps(out + stride, mask, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_maskstore_ps(out + 2 * stride, mask, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_maskstore_ps(out + 3 * stride, mask, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_maskstore_ps(out + 4 * stride, mask, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_maskstore_ps(out + 5 * stride, mask, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_maskstore_ps(out + 6 * stride, mask, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_maskstore_ps(out + 7 * stride, mask, _mm256_permute2f128_ps(u3, u7, 0x31));
    return;
  }
  if (channels > 0) _mm256_maskstore_ps(out, mask, _mm256_permute2f128_ps(u0, u4, 0x20));
  if (channels > 1) _mm256_maskstore_ps(out + stride, mask, _mm256_permute2f128_ps(u1, u5, 0x20));
  if (channels > 2) _mm256_maskstore_ps(out + 2 * stride, mask, _mm256_permute2f128_ps(u2, u6, 0x20));
  if (channels > 3) _mm256_maskstore_ps(out + 3 * stride, mask, _mm256_permute2f128_ps(u3, u7, 0x20));
  if (channels > 4) _mm256_maskstore_ps(out + 4 * stride, mask, _mm256_permute2f128_ps(u0, u4, 0x31));
  if (channels > 5) _mm256_maskstore_ps(out + 5 * stride, mask, _mm256_permute2f128_ps(u1, u5, 0x31));
  if (channels > 6) _mm256_maskstore_ps(out + 6 * stride, mask, _mm256_permute2f128_ps(u2, u6, 0x31));
}

CK_TARGET __attribute__((always_inline)) static inline void ck_conv_6x16(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* const* outputs, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi, const int prefetch_input) {
  const float* p0 = pixels[0];
  const float* p1 = pixels[np > 1 ? 1 : 0];
  const float* p2 = pixels[np > 2 ? 2 : 0];
  const float* p3 = pixels[np > 3 ? 3 : 0];
  const float* p4 = pixels[np > 4 ? 4 : 0];
  const float* p5 = pixels[np > 5 ? 5 : 0];
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  if (bias != NULL) {
    c00 = c10 = c20 = c30 = c40 = c50 = _mm256_loadu_ps(bias);
    c01 = c11 = c21 = c31 = c41 = c51 = _mm256_loadu_ps(bias + 8);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
  }
  for (size_t d = 0; d < depth; d++) {
    _mm_prefetch((const char*)(w + 384), _MM_HINT_T0);
    _mm_prefetch((const char*)(w + 2048), _MM_HINT_T1);
    if (prefetch_input) {
      // The input taps 16 steps ahead (the hardware prefetchers cannot follow the jumps
      // between channel planes); taps[] has 16 readable entries past depth.
      _mm_prefetch((const char*)(p0 + taps[d + 16]), _MM_HINT_T0);
      _mm_prefetch((const char*)(p5 + taps[d + 16]), _MM_HINT_T0);
    }
    const ptrdiff_t off = taps[d];
    const __m256 b0 = _mm256_loadu_ps(w);
    const __m256 b1 = _mm256_loadu_ps(w + 8);
    __m256 a;
    a = _mm256_broadcast_ss(p0 + off); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(p1 + off); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(p2 + off); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(p3 + off); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(p4 + off); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(p5 + off); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    w += 16;
  }
  if (flags & CK_GEMM_CLAMP) {
    // max(lo, x) and min(hi, x) return x when x is NaN (the second operand wins).
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
#define CK_CLAMP(v) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v))
    CK_CLAMP(c00); CK_CLAMP(c01); CK_CLAMP(c10); CK_CLAMP(c11); CK_CLAMP(c20); CK_CLAMP(c21);
    CK_CLAMP(c30); CK_CLAMP(c31); CK_CLAMP(c40); CK_CLAMP(c41); CK_CLAMP(c50); CK_CLAMP(c51);
#undef CK_CLAMP
  }
  int contiguous = 1;
  for (size_t j = 1; j < np; j++) contiguous &= outputs[j] == outputs[0] + j;
  if (contiguous) {
    // The pixels are consecutive in one output row: transpose the 6 x 16 tile to 16 rows of
    // 6 pixels (two 8 x 8 transposes with 2 unused pixel vectors) and store each channel's
    // np values with one masked store.
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)np), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    float* out = outputs[0];
    ck_store_half_transposed(c00, c10, c20, c30, c40, c50, out, channel_stride, nk < 8 ? nk : 8, mask, np == 6);
    if (nk > 8) {
      ck_store_half_transposed(c01, c11, c21, c31, c41, c51, out + 8 * channel_stride, channel_stride, nk - 8, mask,
                               np == 6);
    }
    return;
  }
  // Pixels in two output rows: each accumulator row is one pixel's 16 channels, which go to
  // 16 output planes (channel_stride apart).
  float tile[6][16] __attribute__((aligned(32)));
  _mm256_store_ps(tile[0], c00); _mm256_store_ps(tile[0] + 8, c01);
  _mm256_store_ps(tile[1], c10); _mm256_store_ps(tile[1] + 8, c11);
  _mm256_store_ps(tile[2], c20); _mm256_store_ps(tile[2] + 8, c21);
  _mm256_store_ps(tile[3], c30); _mm256_store_ps(tile[3] + 8, c31);
  _mm256_store_ps(tile[4], c40); _mm256_store_ps(tile[4] + 8, c41);
  _mm256_store_ps(tile[5], c50); _mm256_store_ps(tile[5] + 8, c51);
  for (size_t j = 0; j < np; j++) {
    float* out = outputs[j];
    for (size_t i = 0; i < nk; i++) out[i * channel_stride] = tile[j][i];
  }
}

// Two out-of-line instances (each with its own register allocation: inlined into the tile
// loop, the 12 accumulators spilled).
CK_TARGET __attribute__((noinline)) static void ck_conv_6x16_plain(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* const* outputs, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi) {
  ck_conv_6x16(depth, w, taps, pixels, np, outputs, channel_stride, nk, bias, flags, lo, hi, 0);
}

CK_TARGET __attribute__((noinline)) static void ck_conv_6x16_prefetch(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* const* outputs, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi) {
  ck_conv_6x16(depth, w, taps, pixels, np, outputs, channel_stride, nk, bias, flags, lo, hi, 1);
}

CK_TARGET void ck_f32_conv_ukernel_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* const* outputs, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi) {
  ck_conv_6x16_plain(depth, w, taps, pixels, np, outputs, channel_stride, nk, bias, flags, lo, hi);
}

CK_TARGET void ck_f32_conv_tiles_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t col_step,
    size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk,
    const float* bias, uint32_t flags, float lo, float hi) {
  size_t oy = first_pixel / output_width, ox = first_pixel % output_width;
  const float* pixels[6];
  float* outputs[6];
  for (size_t p = 0; p < pixel_count; p += 6) {
    const size_t np = pixel_count - p < 6 ? pixel_count - p : 6;
    for (size_t j = 0; j < np; j++) {
      pixels[j] = image + oy * row_step + ox * col_step;
      outputs[j] = out + first_pixel + p + j;
      if (++ox == output_width) { ox = 0; oy++; }
    }
    if (flags & CK_CONV_PREFETCH_INPUT) {
      ck_conv_6x16_prefetch(depth, w, taps, pixels, np, outputs, channel_stride, nk, bias, flags, lo, hi);
    } else {
      ck_conv_6x16_plain(depth, w, taps, pixels, np, outputs, channel_stride, nk, bias, flags, lo, hi);
    }
  }
}

#else
void ck_f32_conv_tiles_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t col_step,
    size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk,
    const float* bias, uint32_t flags, float lo, float hi) {
  (void)depth; (void)w; (void)taps; (void)image; (void)row_step; (void)col_step; (void)output_width;
  (void)first_pixel; (void)pixel_count; (void)out; (void)channel_stride; (void)nk; (void)bias; (void)flags;
  (void)lo; (void)hi;
}
void ck_f32_conv_ukernel_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* const* pixels, size_t np,
    float* const* outputs, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo,
    float hi) {
  (void)depth; (void)w; (void)taps; (void)pixels; (void)np; (void)outputs; (void)channel_stride; (void)nk;
  (void)bias; (void)flags; (void)lo; (void)hi;
}
#endif
