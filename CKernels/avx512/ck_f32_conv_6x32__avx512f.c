// Indirect direct-convolution micro-kernel for AVX-512F: 6 output pixels x 32 output channels
// (two of the AVX2 kernel's 16-channel weight panels side by side), 12 zmm accumulators, or 7
// pixels (14 accumulators) with CK_CONV_TILE7, which covers planes of 7n pixels (7x7, 14x14)
// with whole tiles. Same
// input addressing, taps, row skipping and stores as ck_f32_conv_6x16__avx2_fma.c: the pixel is
// broadcast, the output channels are the vector, and each output gets the same sum in the same
// order as in the AVX2 kernel.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_conv_tile6.h"

#define CK_TARGET __attribute__((target("avx512f")))

#define CK_LO(v) _mm512_castps512_ps256(v)
#define CK_HI(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))

// One tap d for the pixels j with GUARD(j) (all of them, or those of a block); NP (1 or 2) is
// the number of 16-channel panels.
#define CK_TAP(GUARD)                                                                                   \
  do {                                                                                                  \
    _mm_prefetch((const char*)(w0 + 16 * d + 384), _MM_HINT_T0);                                       \
    if (NP == 2) _mm_prefetch((const char*)(w1 + 16 * d + 384), _MM_HINT_T0);                          \
    if (prefetch_input) {                                                                               \
      _mm_prefetch((const char*)(p0 + taps[d + 16]), _MM_HINT_T0);                                     \
      _mm_prefetch((const char*)(p5 + taps[d + 16]), _MM_HINT_T0);                                     \
    }                                                                                                   \
    const ptrdiff_t off = taps[d];                                                                      \
    const __m512 b0 = _mm512_loadu_ps(w0 + 16 * d);                                                     \
    const __m512 b1 = NP == 2 ? _mm512_loadu_ps(w1 + 16 * d) : b0;                                      \
    __m512 a;                                                                                           \
    if (GUARD(0)) { a = _mm512_set1_ps(p0[off]); c00 = _mm512_fmadd_ps(a, b0, c00); if (NP == 2) c01 = _mm512_fmadd_ps(a, b1, c01); } \
    if (MR > 1 && GUARD(1)) { a = _mm512_set1_ps(p1[off]); c10 = _mm512_fmadd_ps(a, b0, c10); if (NP == 2) c11 = _mm512_fmadd_ps(a, b1, c11); } \
    if (MR > 2 && GUARD(2)) { a = _mm512_set1_ps(p2[off]); c20 = _mm512_fmadd_ps(a, b0, c20); if (NP == 2) c21 = _mm512_fmadd_ps(a, b1, c21); } \
    if (MR > 3 && GUARD(3)) { a = _mm512_set1_ps(p3[off]); c30 = _mm512_fmadd_ps(a, b0, c30); if (NP == 2) c31 = _mm512_fmadd_ps(a, b1, c31); } \
    if (MR > 4 && GUARD(4)) { a = _mm512_set1_ps(p4[off]); c40 = _mm512_fmadd_ps(a, b0, c40); if (NP == 2) c41 = _mm512_fmadd_ps(a, b1, c41); } \
    if (MR > 5 && GUARD(5)) { a = _mm512_set1_ps(p5[off]); c50 = _mm512_fmadd_ps(a, b0, c50); if (NP == 2) c51 = _mm512_fmadd_ps(a, b1, c51); } \
    if (MR == 7 && GUARD(6)) {                                                                          \
      a = _mm512_set1_ps(p6[off]); c60 = _mm512_fmadd_ps(a, b0, c60); if (NP == 2) c61 = _mm512_fmadd_ps(a, b1, c61); \
    }                                                                                                   \
  } while (0)
// Lanes 0 .. n-1 (n in 1..8) of v stored at p / loaded from p (lanes past n zero), never
// touching p + n or beyond.
CK_TARGET __attribute__((always_inline)) static inline void ck_store_n8(float* p, __m256 v, size_t n) {
  if (n == 8) { _mm256_storeu_ps(p, v); return; }
  ck_store_n(p, v, n < 6 ? n : 6);
  if (n == 7) _mm_store_ss(p + 6, _mm_movehl_ps(_mm256_extractf128_ps(v, 1), _mm256_extractf128_ps(v, 1)));
}
CK_TARGET __attribute__((always_inline)) static inline __m256 ck_load_n8(const float* p, size_t n) {
  if (n == 8) return _mm256_loadu_ps(p);
  __m256 v = ck_load_n(p, n < 6 ? n : 6);
  if (n == 7) v = _mm256_insertf128_ps(v, _mm_movelh_ps(_mm_loadl_pi(_mm_setzero_ps(), (const __m64*)(p + 4)),
                                                        _mm_load_ss(p + 6)), 1);
  return v;
}

// One tile of MR (1 to 7) pixels x 32 channels. The 7th pixel (MR == 7) runs two more
// accumulators beside the 12 of the 6-pixel tile; its channels are stored one by one after the
// 6-pixel transposing store. Each output's sum is the same whatever MR. Without blocks, every
// pixel sums taps [0, depth); with blocks, each block's taps are summed by its pixels only (the
// products left out are with zero padding). The per-pixel tests cost little there: they are the
// same for all of a block's taps, so the branches predict well. (Tiles of several rows, up to 8
// pixels, run ck_conv_blocked_tile.)
#define CK_ALL(j) 1
#define CK_IN_BLOCK(j) ((blk_mask >> (j)) & 1u)
// Pixels A <= j < MR - E.
#define CK_IN_RANGE(A, E, j) ((A) <= (j) && (j) < MR - (E))
#define CK_IN_RANGE_0_1(j) CK_IN_RANGE(0, 1, j)
#define CK_IN_RANGE_0_2(j) CK_IN_RANGE(0, 2, j)
#define CK_IN_RANGE_0_3(j) CK_IN_RANGE(0, 3, j)
#define CK_IN_RANGE_1_0(j) CK_IN_RANGE(1, 0, j)
#define CK_IN_RANGE_1_1(j) CK_IN_RANGE(1, 1, j)
#define CK_IN_RANGE_1_2(j) CK_IN_RANGE(1, 2, j)
#define CK_IN_RANGE_1_3(j) CK_IN_RANGE(1, 3, j)
#define CK_IN_RANGE_2_0(j) CK_IN_RANGE(2, 0, j)
#define CK_IN_RANGE_2_1(j) CK_IN_RANGE(2, 1, j)
#define CK_IN_RANGE_2_2(j) CK_IN_RANGE(2, 2, j)
#define CK_IN_RANGE_2_3(j) CK_IN_RANGE(2, 3, j)
#define CK_IN_RANGE_3_0(j) CK_IN_RANGE(3, 0, j)
#define CK_IN_RANGE_3_1(j) CK_IN_RANGE(3, 1, j)
#define CK_IN_RANGE_3_2(j) CK_IN_RANGE(3, 2, j)
#define CK_IN_RANGE_3_3(j) CK_IN_RANGE(3, 3, j)

CK_TARGET __attribute__((always_inline)) static inline void ck_conv_6x32(
    const int MR, const int NP, size_t depth, const float* w0, const float* w1, const int32_t* taps, const float* const* pixels,
    size_t np, float* out, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const int prefetch_input, const ck_tap_block* blocks, size_t nblocks) {
  const float* p0 = pixels[0];
  const float* p1 = pixels[np > 1 ? 1 : 0];
  const float* p2 = pixels[np > 2 ? 2 : 0];
  const float* p3 = pixels[np > 3 ? 3 : 0];
  const float* p4 = pixels[np > 4 ? 4 : 0];
  const float* p5 = pixels[np > 5 ? 5 : 0];
  const float* p6 = pixels[MR == 7 && np > 6 ? 6 : 0];
  __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61;
  if (bias != NULL) {
    c00 = c10 = c20 = c30 = c40 = c50 = c60 = _mm512_loadu_ps(bias);
    c01 = c11 = c21 = c31 = c41 = c51 = c61 = NP == 2 ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c60 = c61 = _mm512_setzero_ps();
  }
  if (blocks == NULL) {
    for (size_t d = 0; d < depth; d++) CK_TAP(CK_ALL);
  } else {
    const uint32_t all = (1u << np) - 1u;
    for (size_t k = 0; k < nblocks; k++) {
      const uint32_t blk_mask = blocks[k].mask;
      if ((blk_mask & all) == all) {
        for (size_t d = blocks[k].d0; d < blocks[k].d1; d++) CK_TAP(CK_ALL);
      } else {
        // Pixels [a, b) with at most 3 left out at either end (the usual blocks of a tile within
        // one row): a loop with that range as constants. A loop testing the pixels one by one
        // compiled into register shuffles around the first pixel's FMAs (0.85x on 4-pixel rows).
        const size_t d0 = blocks[k].d0, d1 = blocks[k].d1;
        const unsigned a = (unsigned)__builtin_ctz(blk_mask), b = 32u - (unsigned)__builtin_clz(blk_mask);
        const uint32_t range = (b >= 32u ? ~0u : (1u << b) - 1u) & ~((1u << a) - 1u);
        const unsigned e = (unsigned)np - b;
        if (range == blk_mask && np == (size_t)MR && a < 4u && e < 4u) {
          switch (a * 4u + e) {
#define CK_RANGE_CASE(A, E)                                                                 \
  case (A) * 4u + (E): {                                                                    \
    for (size_t d = d0; d < d1; d++) CK_TAP(CK_IN_RANGE_##A##_##E);                        \
    break;                                                                                 \
  }
            CK_RANGE_CASE(0, 1) CK_RANGE_CASE(0, 2) CK_RANGE_CASE(0, 3)
            CK_RANGE_CASE(1, 0) CK_RANGE_CASE(1, 1) CK_RANGE_CASE(1, 2) CK_RANGE_CASE(1, 3)
            CK_RANGE_CASE(2, 0) CK_RANGE_CASE(2, 1) CK_RANGE_CASE(2, 2) CK_RANGE_CASE(2, 3)
            CK_RANGE_CASE(3, 0) CK_RANGE_CASE(3, 1) CK_RANGE_CASE(3, 2) CK_RANGE_CASE(3, 3)
#undef CK_RANGE_CASE
            default:  // (a, e) = (0, 0) is the whole tile, handled above
              break;
          }
        } else {
          for (size_t d = d0; d < d1; d++) CK_TAP(CK_IN_BLOCK);
        }
      }
    }
  }
  if (flags & CK_GEMM_CLAMP && !(flags & CK_CONV_ACCUMULATE)) {
    // max(lo, x) and min(hi, x) return x when x is NaN (the second operand wins).
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
#define CK_CLAMP(v) v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v))
    CK_CLAMP(c00); CK_CLAMP(c01); CK_CLAMP(c10); CK_CLAMP(c11); CK_CLAMP(c20); CK_CLAMP(c21);
    CK_CLAMP(c30); CK_CLAMP(c31); CK_CLAMP(c40); CK_CLAMP(c41); CK_CLAMP(c50); CK_CLAMP(c51);
    if (MR == 7) { CK_CLAMP(c60); CK_CLAMP(c61); }
#undef CK_CLAMP
  }
  if (MR >= 6 && np == (size_t)MR && nk == (size_t)(16 * NP) && !(flags & CK_CONV_ACCUMULATE)) {
    ck_store_6x8(CK_LO(c00), CK_LO(c10), CK_LO(c20), CK_LO(c30), CK_LO(c40), CK_LO(c50), out, channel_stride);
    ck_store_6x8(CK_HI(c00), CK_HI(c10), CK_HI(c20), CK_HI(c30), CK_HI(c40), CK_HI(c50), out + 8 * channel_stride,
                 channel_stride);
    if (NP == 2) ck_store_6x8(CK_LO(c01), CK_LO(c11), CK_LO(c21), CK_LO(c31), CK_LO(c41), CK_LO(c51), out + 16 * channel_stride,
                 channel_stride);
    if (NP == 2) ck_store_6x8(CK_HI(c01), CK_HI(c11), CK_HI(c21), CK_HI(c31), CK_HI(c41), CK_HI(c51), out + 24 * channel_stride,
                 channel_stride);
    if (MR == 7) {
      // The 7th pixel: channel i at out + i * channel_stride + 6.
      float seventh[32];
      _mm512_storeu_ps(seventh, c60);
      _mm512_storeu_ps(seventh + 16, c61);
      for (int i = 0; i < 16 * NP; i++) out[(size_t)i * channel_stride + 6] = seventh[i];
    }
    return;
  }
  __m256 col[32];
  ck_transpose_6x8(CK_LO(c00), CK_LO(c10), CK_LO(c20), CK_LO(c30), CK_LO(c40), CK_LO(c50), col);
  ck_transpose_6x8(CK_HI(c00), CK_HI(c10), CK_HI(c20), CK_HI(c30), CK_HI(c40), CK_HI(c50), col + 8);
  if (NP == 2) {
    ck_transpose_6x8(CK_LO(c01), CK_LO(c11), CK_LO(c21), CK_LO(c31), CK_LO(c41), CK_LO(c51), col + 16);
    ck_transpose_6x8(CK_HI(c01), CK_HI(c11), CK_HI(c21), CK_HI(c31), CK_HI(c41), CK_HI(c51), col + 24);
  }
  const size_t n6 = np < 6 ? np : 6;
  float seventh[32];
  if (MR == 7) {
    _mm512_storeu_ps(seventh, c60);
    _mm512_storeu_ps(seventh + 16, c61);
  }
  if (flags & CK_CONV_ACCUMULATE) {
    // out = clamp(out + acc)
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (size_t i = 0; i < nk; i++) {
      float* o = out + i * channel_stride;
      __m256 v = _mm256_add_ps(col[i], ck_load_n(o, n6));
      if (flags & CK_GEMM_CLAMP) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v));
      ck_store_n(o, v, n6);
      if (MR == 7 && np == 7) {
        float t = o[6] + seventh[i];
        // t < lo and t > hi are false for NaN: NaN propagates, as in the vector form.
        if (flags & CK_GEMM_CLAMP) { t = t < lo ? lo : t; t = t > hi ? hi : t; }
        o[6] = t;
      }
    }
    return;
  }
  for (size_t i = 0; i < nk; i++) {
    ck_store_n(out + i * channel_stride, col[i], n6);
    if (MR == 7 && np == 7) out[i * channel_stride + 6] = seventh[i];
  }
}

#undef CK_LO
#undef CK_HI
#undef CK_TAP
#undef CK_ALL
#undef CK_IN_BLOCK
#undef CK_IN_RANGE
#undef CK_IN_RANGE_0_1
#undef CK_IN_RANGE_0_2
#undef CK_IN_RANGE_0_3
#undef CK_IN_RANGE_1_0
#undef CK_IN_RANGE_1_1
#undef CK_IN_RANGE_1_2
#undef CK_IN_RANGE_1_3
#undef CK_IN_RANGE_2_0
#undef CK_IN_RANGE_2_1
#undef CK_IN_RANGE_2_2
#undef CK_IN_RANGE_2_3
#undef CK_IN_RANGE_3_0
#undef CK_IN_RANGE_3_1
#undef CK_IN_RANGE_3_2
#undef CK_IN_RANGE_3_3

#define CK_CONV_6X32_INSTANCE(NAME, MR, NP, PREFETCH)                                                      \
  CK_TARGET __attribute__((noinline)) static void NAME(                                                      \
      size_t depth, const float* w0, const float* w1, const int32_t* taps, const float* const* pixels, size_t np, \
      float* out, size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,       \
      const ck_tap_block* blocks, size_t nblocks) {                                                            \
    ck_conv_6x32(MR, NP, depth, w0, w1, taps, pixels, np, out, channel_stride, nk, bias, flags, lo, hi,        \
                 PREFETCH, blocks, nblocks);                                                                   \
  }
// MR pixels (1..7) x NP panels (1 or 2), with or without input prefetches.
CK_CONV_6X32_INSTANCE(ck_conv_m1_p1_f0, 1, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m2_p1_f0, 2, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m3_p1_f0, 3, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m4_p1_f0, 4, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m5_p1_f0, 5, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m6_p1_f0, 6, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m7_p1_f0, 7, 1, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m1_p1_f1, 1, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m2_p1_f1, 2, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m3_p1_f1, 3, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m4_p1_f1, 4, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m5_p1_f1, 5, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m6_p1_f1, 6, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m7_p1_f1, 7, 1, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m1_p2_f0, 1, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m2_p2_f0, 2, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m3_p2_f0, 3, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m4_p2_f0, 4, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m5_p2_f0, 5, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m6_p2_f0, 6, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m7_p2_f0, 7, 2, 0)
CK_CONV_6X32_INSTANCE(ck_conv_m1_p2_f1, 1, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m2_p2_f1, 2, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m3_p2_f1, 3, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m4_p2_f1, 4, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m5_p2_f1, 5, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m6_p2_f1, 6, 2, 1)
CK_CONV_6X32_INSTANCE(ck_conv_m7_p2_f1, 7, 2, 1)
#undef CK_CONV_6X32_INSTANCE

typedef void (*ck_conv_tile_fn)(size_t, const float*, const float*, const int32_t*, const float* const*, size_t, float*,
                                size_t, size_t, const float*, uint32_t, float, float, const ck_tap_block*, size_t);
// [panels - 1][prefetch][MR - 1]: tiles of MR pixels (1..7); a tile of np pixels runs the
// MR = np instance (no empty accumulators), its sums the same as in any other tile.
static const ck_conv_tile_fn ck_conv_tile_kernels[2][2][7] = {
    {{ck_conv_m1_p1_f0, ck_conv_m2_p1_f0, ck_conv_m3_p1_f0, ck_conv_m4_p1_f0, ck_conv_m5_p1_f0, ck_conv_m6_p1_f0, ck_conv_m7_p1_f0},
     {ck_conv_m1_p1_f1, ck_conv_m2_p1_f1, ck_conv_m3_p1_f1, ck_conv_m4_p1_f1, ck_conv_m5_p1_f1, ck_conv_m6_p1_f1, ck_conv_m7_p1_f1}},
    {{ck_conv_m1_p2_f0, ck_conv_m2_p2_f0, ck_conv_m3_p2_f0, ck_conv_m4_p2_f0, ck_conv_m5_p2_f0, ck_conv_m6_p2_f0, ck_conv_m7_p2_f0},
     {ck_conv_m1_p2_f1, ck_conv_m2_p2_f1, ck_conv_m3_p2_f1, ck_conv_m4_p2_f1, ck_conv_m5_p2_f1, ck_conv_m6_p2_f1, ck_conv_m7_p2_f1}}};

// The taps [d0, d1) of one block for its MR pixels: ptr[j] is the j-th pixel of the block and
// acc + 32 * slot[j] its 32 partial sums (16 with NP == 1), loaded into registers, advanced tap
// by tap in the order of ck_conv_6x32, and stored back: a sum carried through memory between
// blocks is the same as one kept in registers.
CK_TARGET __attribute__((always_inline)) static inline void ck_conv_block(
    const int MR, const int NP, const int PREFETCH, size_t d0, size_t d1, const float* w0, const float* w1,
    const int32_t* taps, const float* const* ptr, const int* slot, float* acc) {
  __m512 c[8][2];
  const float* p[8];
#pragma clang loop unroll(full)
  for (int j = 0; j < MR; j++) {
    p[j] = ptr[j];
    c[j][0] = _mm512_load_ps(acc + 32 * slot[j]);
    c[j][1] = NP == 2 ? _mm512_load_ps(acc + 32 * slot[j] + 16) : c[j][0];
  }
  for (size_t d = d0; d < d1; d++) {
    _mm_prefetch((const char*)(w0 + 16 * d + 384), _MM_HINT_T0);
    if (NP == 2) _mm_prefetch((const char*)(w1 + 16 * d + 384), _MM_HINT_T0);
    if (PREFETCH) {
      _mm_prefetch((const char*)(p[0] + taps[d + 16]), _MM_HINT_T0);
      _mm_prefetch((const char*)(p[MR - 1] + taps[d + 16]), _MM_HINT_T0);
    }
    const ptrdiff_t off = taps[d];
    const __m512 b0 = _mm512_loadu_ps(w0 + 16 * d);
    const __m512 b1 = NP == 2 ? _mm512_loadu_ps(w1 + 16 * d) : b0;
#pragma clang loop unroll(full)
    for (int j = 0; j < MR; j++) {
      const __m512 a = _mm512_set1_ps(p[j][off]);
      c[j][0] = _mm512_fmadd_ps(a, b0, c[j][0]);
      if (NP == 2) c[j][1] = _mm512_fmadd_ps(a, b1, c[j][1]);
    }
  }
#pragma clang loop unroll(full)
  for (int j = 0; j < MR; j++) {
    _mm512_store_ps(acc + 32 * slot[j], c[j][0]);
    if (NP == 2) _mm512_store_ps(acc + 32 * slot[j] + 16, c[j][1]);
  }
}

#define CK_CONV_BLOCK_INSTANCE(NAME, MR, NP, PREFETCH)                                                   \
  CK_TARGET __attribute__((noinline)) static void NAME(size_t d0, size_t d1, const float* w0, const float* w1, \
                                                       const int32_t* taps, const float* const* ptr,         \
                                                       const int* slot, float* acc) {                        \
    ck_conv_block(MR, NP, PREFETCH, d0, d1, w0, w1, taps, ptr, slot, acc);                               \
  }
#define CK_CONV_BLOCK_INSTANCES(NP, PREFETCH)                                 \
  CK_CONV_BLOCK_INSTANCE(ck_conv_block_m1_p##NP##_f##PREFETCH, 1, NP, PREFETCH) \
  CK_CONV_BLOCK_INSTANCE(ck_conv_block_m2_p##NP##_f##PREFETCH, 2, NP, PREFETCH) \
  CK_CONV_BLOCK_INSTANCE(ck_conv_block_m3_p##NP##_f##PREFETCH, 3, NP, PREFETCH) \
  CK_CONV_BLOCK_INSTANCE(ck_conv_block_m4_p##NP##_f##PREFETCH, 4, NP, PREFETCH) \
  CK_CONV_BLOCK_INSTANCE(ck_conv_block_m5_p##NP##_f##PREFETCH, 5, NP, PREFETCH) \
  CK_CONV_BLOCK_INSTANCE(ck_conv_block_m6_p##NP##_f##PREFETCH, 6, NP, PREFETCH) \
  CK_CONV_BLOCK_INSTANCE(ck_conv_block_m7_p##NP##_f##PREFETCH, 7, NP, PREFETCH) \
  CK_CONV_BLOCK_INSTANCE(ck_conv_block_m8_p##NP##_f##PREFETCH, 8, NP, PREFETCH)
CK_CONV_BLOCK_INSTANCES(1, 0)
CK_CONV_BLOCK_INSTANCES(1, 1)
CK_CONV_BLOCK_INSTANCES(2, 0)
CK_CONV_BLOCK_INSTANCES(2, 1)
#undef CK_CONV_BLOCK_INSTANCES
#undef CK_CONV_BLOCK_INSTANCE

typedef void (*ck_conv_block_fn)(size_t, size_t, const float*, const float*, const int32_t*, const float* const*,
                                 const int*, float*);
#define CK_BLOCK_ROW(NP, F)                                                                                  \
  {ck_conv_block_m1_p##NP##_f##F, ck_conv_block_m2_p##NP##_f##F, ck_conv_block_m3_p##NP##_f##F,             \
   ck_conv_block_m4_p##NP##_f##F, ck_conv_block_m5_p##NP##_f##F, ck_conv_block_m6_p##NP##_f##F,             \
   ck_conv_block_m7_p##NP##_f##F, ck_conv_block_m8_p##NP##_f##F}
// [panels - 1][prefetch][pixels in the block - 1]
static const ck_conv_block_fn ck_conv_block_kernels[2][2][8] = {{CK_BLOCK_ROW(1, 0), CK_BLOCK_ROW(1, 1)},
                                                                {CK_BLOCK_ROW(2, 0), CK_BLOCK_ROW(2, 1)}};
#undef CK_BLOCK_ROW

// A tile of np (1..8) pixels whose pixels sum different taps (the blocks of
// ck_conv_tile_blocks): the partial sums live in acc (32 per pixel), each block runs the dense
// loop of its own pixels only (ck_conv_block), then the tile is clamped or accumulated and
// stored as ck_conv_6x32 stores it. Each output's sum is its taps inside the image in tap order,
// as in the dense kernel.
CK_TARGET __attribute__((noinline)) static void ck_conv_blocked_tile(
    const float* const* pixels, size_t np, const ck_tap_block* blocks, size_t nblocks, const float* w0,
    const float* w1, int panels, const int32_t* taps, float* out, size_t channel_stride, size_t nk, const float* bias,
    uint32_t flags, float lo, float hi) {
  float acc[8 * 32] __attribute__((aligned(64)));
  const __m512 b0 = bias != NULL ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  const __m512 b1 = bias != NULL && panels == 2 ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
  for (size_t j = 0; j < 8; j++) {
    // Rows past np are zero: the 8x8 transposes below read them.
    _mm512_store_ps(acc + 32 * j, j < np ? b0 : _mm512_setzero_ps());
    _mm512_store_ps(acc + 32 * j + 16, j < np ? b1 : _mm512_setzero_ps());
  }
  const int prefetch = (flags & CK_CONV_PREFETCH_INPUT) != 0;
  for (size_t k = 0; k < nblocks; k++) {
    const float* ptr[8];
    int slot[8];
    size_t m = 0;
    for (size_t j = 0; j < np; j++) {
      if (blocks[k].mask >> j & 1u) {
        ptr[m] = pixels[j];
        slot[m++] = (int)j;
      }
    }
    if (m == 0) continue;
    ck_conv_block_kernels[panels == 2 ? 1 : 0][prefetch][m - 1](blocks[k].d0, blocks[k].d1, w0, w1, taps, ptr, slot,
                                                                 acc);
  }
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  const int clamp = (flags & CK_GEMM_CLAMP) != 0, accumulate = (flags & CK_CONV_ACCUMULATE) != 0;
  for (size_t q = 0; q < (nk + 7) / 8; q++) {
    // Channels 8q .. 8q+7 of the 8 pixels, transposed to one vector of pixels per channel.
    __m256 t[8];
    for (int j = 0; j < 8; j++) t[j] = _mm256_load_ps(acc + 32 * j + 8 * q);
    ck_transpose8x8(t);
    for (size_t i = 8 * q; i < nk && i < 8 * q + 8; i++) {
      float* o = out + i * channel_stride;
      __m256 v = t[i - 8 * q];
      // max(lo, x) and min(hi, x) return x when x is NaN (the second operand wins).
      if (accumulate) v = _mm256_add_ps(v, ck_load_n8(o, np));
      if (clamp) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v));
      ck_store_n8(o, v, np);
    }
  }
}

// One tile of np (1..8) pixels at pixels[] over the taps [d0, d1) of its kernel rows, panels (1
// or 2) 16-channel panels at w and w + w_panel_stride, stored at o. With col_blocks (the tile is
// nrows x tile_w pixels from output row oy and column ox, see ck_conv_tile_blocks, and the taps
// are in (r, s, c) order), each pixel sums only its kernel rows and columns inside the image.
// With in_place, a tile whose every tap reads padding sums nothing (its outputs are the bias);
// without, it sums its taps over the zero-padded copy, the AVX2 kernel's products.
static inline void ck_conv_run_tile(const ck_conv_rows* rows, int col_blocks, int in_place, size_t oy, size_t nrows,
                                    size_t ox, size_t tile_w, const float* const* pixels, size_t np, size_t d0,
                                    size_t d1, const float* w, size_t w_panel_stride, int panels,
                                    const int32_t* taps, float* o, size_t channel_stride, size_t nk,
                                    const float* bias, uint32_t flags, float lo, float hi) {
  ck_tap_block blocks[64];
  size_t nblocks = 0;
  int all_padding = 0;
  if (col_blocks && d1 > d0) {
    nblocks = ck_conv_tile_blocks(rows, oy, nrows, ox, tile_w, d0 / rows->taps_per_row, d1 / rows->taps_per_row - 1,
                                  blocks, 64, &all_padding);
  }
  if (nrows > 1) {
    // Several rows (up to 8 pixels, whose blocks are not one range): the blocked tile, with one
    // block of every tap when no pixel reads padding, none when every one does (in place).
    if (nblocks == 0 && d1 > d0 && !(in_place && all_padding)) {
      blocks[0] = (ck_tap_block){d0, d1, (1u << np) - 1u};
      nblocks = 1;
    }
    ck_conv_blocked_tile(pixels, np, blocks, nblocks, w, w + w_panel_stride, panels, taps, o, channel_stride, nk,
                         bias, flags, lo, hi);
    return;
  }
  const ck_tap_block* bl = nblocks > 0 ? blocks : NULL;
  // Without blocks the kernel reads taps [d0, d1) from pointers at d0; with blocks, the blocks'
  // absolute taps from pointers at tap 0.
  const size_t base = bl != NULL ? 0 : d0;
  const float* w0 = w + base * 16;
  const size_t n = in_place && all_padding ? 0 : d1 - d0;
  ck_conv_tile_kernels[panels == 2 ? 1 : 0][(flags & CK_CONV_PREFETCH_INPUT) != 0][np - 1](
      n, w0, panels == 2 ? w0 + w_panel_stride : w0, taps + base, pixels, np, o, channel_stride, nk, bias, flags, lo,
      hi, bl, nblocks);
}

CK_TARGET void ck_f32_conv_tiles_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, const int32_t* taps, const float* image, size_t row_step,
    size_t col_step, size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride,
    size_t nk, const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows) {
  size_t oy = first_pixel / output_width, ox = first_pixel % output_width;
  const size_t mr = (flags & CK_CONV_TILE7) ? 7 : 6;
  const float* pixels[7];
  for (size_t p = 0; p < pixel_count; p += mr) {
    const size_t np = pixel_count - p < mr ? pixel_count - p : mr;
    const size_t first_row = oy, first_col = ox;
    for (size_t j = 0; j < np; j++) {
      pixels[j] = image + oy * row_step + ox * col_step;
      if (++ox == output_width) { ox = 0; oy++; }
    }
    const size_t last_row = ox == 0 ? oy - 1 : oy;
    size_t d0, d1;
    ck_conv_tile_taps(rows, first_row, last_row, depth, &d0, &d1);
    // A tile within one output row whose pixels see padding columns: per-column blocks.
    ck_conv_run_tile(rows, rows != NULL && rows->skip_cols && first_row == last_row, 0, first_row, 1, first_col, np,
                     pixels, np, d0, d1,
                     w, w_panel_stride, nk <= 16 ? 1 : 2, taps, out + first_pixel + p, channel_stride, nk, bias,
                     flags, lo, hi);
  }
}

// Rows of at most 4 pixels with at least this many channels (per group) run tiles of several
// rows. Measured (Zen 4, 1 thread, 32 layers with 3x3 to 7x7 outputs, the two tilings
// alternated, 3 rounds): 1.04-1.15x from 192 channels, 0.97-1.04x at 32-128, 0.80-0.93x at 8-16
// (the blocks are then only a few taps long, and the blocked tile pays per block).
#define CK_ROWS_TILE_MIN_CHANNELS 160

// Output rows [first_row, first_row + row_count) of one image, the input read in place. Tiles
// of up to 7 pixels never cross a row end, or, for short rows (CK_ROWS_TILE_MIN_CHANNELS), are
// whole rows; either way each pixel's kernel rows and columns summed (ck_conv_tile_taps, then
// the blocks of ck_conv_tile_blocks) are exactly those inside the image, and no tap outside it
// is ever read. A pixel's base address may lie outside the input; it is formed with integer
// arithmetic and only dereferenced at its taps inside the image.
CK_TARGET void ck_f32_conv_rows_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, size_t panels, const int32_t* taps, const float* image,
    size_t row_step, size_t col_step, size_t output_width, size_t first_row, size_t row_count, float* out,
    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const ck_conv_rows* rows) {
  const ptrdiff_t origin = (ptrdiff_t)(rows->pad_top * rows->input_width + rows->pad_left);
  const float* pixels[8];
  if (output_width <= 4 && rows->channels >= CK_ROWS_TILE_MIN_CHANNELS) {
    // Short rows: tiles of whole rows, up to 8 pixels (2 rows of 3 or 4, 4 of 2, 8 of 1), so
    // that each weight vector loaded serves 6 to 8 pixels instead of 1 to 4. Each pixel sums
    // the taps of its own kernel rows and columns inside the image (the tile's blocks).
    const size_t per_tile = 8 / output_width;
    for (size_t oy = first_row; oy < first_row + row_count; oy += per_tile) {
      const size_t nrows = first_row + row_count - oy < per_tile ? first_row + row_count - oy : per_tile;
      const size_t np = nrows * output_width;
      size_t d0, d1;
      ck_conv_tile_taps(rows, oy, oy + nrows - 1, depth, &d0, &d1);
      for (size_t j = 0; j < np; j++) {
        const ptrdiff_t offset =
            (ptrdiff_t)((oy + j / output_width) * row_step + (j % output_width) * col_step) - origin;
        pixels[j] = (const float*)((uintptr_t)image + (uintptr_t)(offset * (ptrdiff_t)sizeof(float)));
      }
      ck_conv_run_tile(rows, 1, 1, oy, nrows, 0, output_width, pixels, np, d0, d1, w, w_panel_stride,
                       panels == 2 ? 2 : 1, taps, out + oy * output_width, channel_stride, nk, bias, flags, lo, hi);
    }
    return;
  }
  // Each row in the fewest tiles of at most 7 pixels, of balanced sizes (a 9-pixel row as 5 + 4,
  // not 7 + 2): a tile of np pixels runs the np-pixel kernel, and small tiles run below peak.
  const size_t tiles_per_row = (output_width + 6) / 7;
  const size_t small = output_width / tiles_per_row, larger = output_width % tiles_per_row;
  for (size_t oy = first_row; oy < first_row + row_count; oy++) {
    size_t d0, d1;
    ck_conv_tile_taps(rows, oy, oy, depth, &d0, &d1);
    size_t ox = 0;
    for (size_t t = 0; t < tiles_per_row; t++) {
      const size_t np = small + (t < larger ? 1 : 0);
      for (size_t j = 0; j < np; j++) {
        const ptrdiff_t offset = (ptrdiff_t)(oy * row_step + (ox + j) * col_step) - origin;
        pixels[j] = (const float*)((uintptr_t)image + (uintptr_t)(offset * (ptrdiff_t)sizeof(float)));
      }
      ck_conv_run_tile(rows, rows->skip_cols, 1, oy, 1, ox, np, pixels, np, d0, d1, w, w_panel_stride,
                       panels == 2 ? 2 : 1, taps, out + oy * output_width + ox, channel_stride, nk, bias, flags, lo,
                       hi);
      ox += np;
    }
  }
}

#else
void ck_f32_conv_tiles_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, const int32_t* taps, const float* image, size_t row_step,
    size_t col_step, size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride,
    size_t nk, const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows) {
  (void)depth; (void)w; (void)w_panel_stride; (void)taps; (void)image; (void)row_step; (void)col_step;
  (void)output_width; (void)first_pixel; (void)pixel_count; (void)out; (void)channel_stride; (void)nk; (void)bias;
  (void)flags; (void)lo; (void)hi; (void)rows;
}
void ck_f32_conv_rows_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, size_t panels, const int32_t* taps, const float* image,
    size_t row_step, size_t col_step, size_t output_width, size_t first_row, size_t row_count, float* out,
    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const ck_conv_rows* rows) {
  (void)depth; (void)w; (void)w_panel_stride; (void)panels; (void)taps; (void)image; (void)row_step;
  (void)col_step; (void)output_width; (void)first_row; (void)row_count; (void)out; (void)channel_stride; (void)nk;
  (void)bias; (void)flags; (void)lo; (void)hi; (void)rows;
}
#endif
