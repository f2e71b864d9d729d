// Winograd F(m x m, 3 x 3) input and output transforms for any tile with alpha = m + 2 <= 8
// (F(2x2) and F(6x6); F(4x4) has its own kernels), AVX2 + FMA, 8 tiles per vector.
//
// The matrices come from the caller (WinogradMatrices): V = B^T d B and Y = A^T M A are
// computed as dense products with one FMA per entry, zero entries included; with alpha <= 8
// that is at most 1024 FMAs per channel of 8 tiles, small next to the GEMMs.
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "ck_avx2_transpose.h"

#define CK_TARGET __attribute__((target("avx2,fma")))

// One instantiation per alpha so that the loops unroll and the temporaries stay in registers
// where they fit.
#define CK_DEFINE_INPUT(ALPHA)                                                                        \
  CK_TARGET static void ck_winograd_input_a##ALPHA(                                                  \
      const float* bt, size_t channels, const float* x, size_t channel_stride, size_t row_stride,    \
      const int32_t* offsets, float* v, size_t v_channel_stride, size_t v_position_stride) {         \
    __m256 coef[ALPHA * ALPHA];                                                                       \
    for (int i = 0; i < ALPHA * ALPHA; i++) coef[i] = _mm256_set1_ps(bt[i]);                         \
    for (size_t c = 0; c < channels; c++) {                                                           \
      const float* base = x + c * channel_stride;                                                     \
      __m256 d[ALPHA][8];                                                                             \
      for (int k = 0; k < ALPHA; k++) ck_transpose_rows8x8(base + (size_t)k * row_stride, offsets, d[k]); \
      /* t = B^T d (ALPHA x ALPHA) */                                                                 \
      __m256 t[ALPHA][ALPHA];                                                                         \
      for (int i = 0; i < ALPHA; i++) {                                                               \
        for (int l = 0; l < ALPHA; l++) {                                                             \
          __m256 s = _mm256_mul_ps(coef[i * ALPHA], d[0][l]);                                         \
          for (int k = 1; k < ALPHA; k++) s = _mm256_fmadd_ps(coef[i * ALPHA + k], d[k][l], s);       \
          t[i][l] = s;                                                                                \
        }                                                                                             \
      }                                                                                               \
      /* V = t B: V[i][j] = sum_l t[i][l] * BT[j][l] */                                               \
      float* vc = v + c * v_channel_stride;                                                           \
      for (int i = 0; i < ALPHA; i++) {                                                               \
        for (int j = 0; j < ALPHA; j++) {                                                             \
          __m256 s = _mm256_mul_ps(coef[j * ALPHA], t[i][0]);                                         \
          for (int l = 1; l < ALPHA; l++) s = _mm256_fmadd_ps(coef[j * ALPHA + l], t[i][l], s);       \
          _mm256_storeu_ps(vc + (size_t)(i * ALPHA + j) * v_position_stride, s);                      \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
  }

CK_DEFINE_INPUT(4)
CK_DEFINE_INPUT(8)

CK_TARGET void ck_f32_winograd_input_ukernel__avx2_fma(
    size_t alpha, const float* bt, size_t channels, const float* x, size_t channel_stride, size_t row_stride,
    const int32_t* offsets, float* v, size_t v_channel_stride, size_t v_position_stride) {
  if (alpha == 4) {
    ck_winograd_input_a4(bt, channels, x, channel_stride, row_stride, offsets, v, v_channel_stride, v_position_stride);
  } else if (alpha == 8) {
    ck_winograd_input_a8(bt, channels, x, channel_stride, row_stride, offsets, v, v_channel_stride, v_position_stride);
  }
}

#define CK_DEFINE_OUTPUT(M, ALPHA)                                                                    \
  CK_TARGET static void ck_winograd_output_a##ALPHA(                                                 \
      const float* at, size_t channels, const float* m, size_t m_channel_stride,                     \
      size_t m_position_stride, const float* bias, uint32_t flags, float lo, float hi, float* y,     \
      size_t y_channel_stride, size_t y_row_stride, const ptrdiff_t* tile_offsets,                   \
      const int32_t* tile_extents) {                                                                  \
    __m256 coef[M * ALPHA];                                                                           \
    for (int i = 0; i < M * ALPHA; i++) coef[i] = _mm256_set1_ps(at[i]);                             \
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);                                  \
    for (size_t k = 0; k < channels; k++) {                                                           \
      const float* mk = m + k * m_channel_stride;                                                     \
      /* t = A^T M (M x ALPHA) */                                                                     \
      __m256 t[M][ALPHA];                                                                             \
      for (int b = 0; b < ALPHA; b++) {                                                               \
        __m256 col[ALPHA];                                                                            \
        for (int a = 0; a < ALPHA; a++) col[a] = _mm256_loadu_ps(mk + (size_t)(a * ALPHA + b) * m_position_stride); \
        for (int i = 0; i < M; i++) {                                                                 \
          __m256 s = _mm256_mul_ps(coef[i * ALPHA], col[0]);                                          \
          for (int a = 1; a < ALPHA; a++) s = _mm256_fmadd_ps(coef[i * ALPHA + a], col[a], s);        \
          t[i][b] = s;                                                                                \
        }                                                                                             \
      }                                                                                               \
      /* Y = t A + bias, clamped; lane t of r[i * M + j] is tile t's output (i, j). */               \
      const __m256 bv = _mm256_set1_ps(bias[k]);                                                      \
      float r[M * M][8] __attribute__((aligned(32)));                                                 \
      for (int i = 0; i < M; i++) {                                                                   \
        for (int j = 0; j < M; j++) {                                                                 \
          __m256 s = _mm256_fmadd_ps(coef[j * ALPHA], t[i][0], bv);                                   \
          for (int l = 1; l < ALPHA; l++) s = _mm256_fmadd_ps(coef[j * ALPHA + l], t[i][l], s);       \
          /* max(lo, x) and min(hi, x) return x when x is NaN (the second operand wins). */          \
          if (flags & CK_GEMM_CLAMP) s = _mm256_min_ps(vhi, _mm256_max_ps(vlo, s));                   \
          _mm256_store_ps(r[i * M + j], s);                                                           \
        }                                                                                             \
      }                                                                                               \
      float* yk = y + k * y_channel_stride;                                                           \
      for (int lane = 0; lane < 8; lane++) {                                                          \
        if (tile_offsets[lane] < 0) continue;                                                         \
        const int rows = tile_extents[lane] >> 4, cols = tile_extents[lane] & 15;                     \
        float* corner = yk + tile_offsets[lane];                                                      \
        for (int i = 0; i < rows; i++) {                                                              \
          for (int j = 0; j < cols; j++) corner[(size_t)i * y_row_stride + j] = r[i * M + j][lane];   \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
  }

CK_DEFINE_OUTPUT(2, 4)
CK_DEFINE_OUTPUT(6, 8)

CK_TARGET void ck_f32_winograd_output_ukernel__avx2_fma(
    size_t alpha, const float* at, size_t channels, const float* m, size_t m_channel_stride,
    size_t m_position_stride, const float* bias, uint32_t flags, float lo, float hi, float* y,
    size_t y_channel_stride, size_t y_row_stride, const ptrdiff_t* tile_offsets, const int32_t* tile_extents) {
  if (alpha == 4) {
    ck_winograd_output_a4(at, channels, m, m_channel_stride, m_position_stride, bias, flags, lo, hi, y,
                          y_channel_stride, y_row_stride, tile_offsets, tile_extents);
  } else if (alpha == 8) {
    ck_winograd_output_a8(at, channels, m, m_channel_stride, m_position_stride, bias, flags, lo, hi, y,
                          y_channel_stride, y_row_stride, tile_offsets, tile_extents);
  }
}

#else
void ck_f32_winograd_input_ukernel__avx2_fma(
    size_t alpha, const float* bt, size_t channels, const float* x, size_t channel_stride, size_t row_stride,
    const int32_t* offsets, float* v, size_t v_channel_stride, size_t v_position_stride) {
  (void)alpha; (void)bt; (void)channels; (void)x; (void)channel_stride; (void)row_stride; (void)offsets;
  (void)v; (void)v_channel_stride; (void)v_position_stride;
}
void ck_f32_winograd_output_ukernel__avx2_fma(
    size_t alpha, const float* at, size_t channels, const float* m, size_t m_channel_stride,
    size_t m_position_stride, const float* bias, uint32_t flags, float lo, float hi, float* y,
    size_t y_channel_stride, size_t y_row_stride, const ptrdiff_t* tile_offsets, const int32_t* tile_extents) {
  (void)alpha; (void)at; (void)channels; (void)m; (void)m_channel_stride; (void)m_position_stride; (void)bias;
  (void)flags; (void)lo; (void)hi; (void)y; (void)y_channel_stride; (void)y_row_stride; (void)tile_offsets;
  (void)tile_extents;
}
#endif
