// CKernels: ConvKit's FMA-bound micro-kernels and CPU feature detection.
//
// Naming: ck_<dtype>_<op>_ukernel_<tile>__<isa>. Micro-kernels never allocate,
// never start threads and only touch the memory they are given.
#ifndef CK_KERNELS_H
#define CK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- CPU features (ck_cpu_features.c) ----
// Bits of ck_cpu_features().
#define CK_CPU_SSE2 (1u << 0)
#define CK_CPU_AVX (1u << 1)
#define CK_CPU_AVX2 (1u << 2)
#define CK_CPU_FMA (1u << 3)
#define CK_CPU_F16C (1u << 4)
#define CK_CPU_AVX512F (1u << 5)

/// Bit set of CK_CPU_* flags for the running CPU.
uint32_t ck_cpu_features(void);

// ---- Scheduling helper (ck_atomic.c) ----
// Atomically adds 1 to *counter (relaxed ordering) and returns the previous value. Lets the
// Swift thread fan-out keep its task counter on the stack (no allocation per call).
intptr_t ck_atomic_fetch_increment(intptr_t* counter);

// ---- Worker team (ck_team.c): the synchronisation of one parallel region ----
// The leader (the member that wins ck_team_take_lead) runs the region and publishes phases of
// `tasks` tasks that members with index < `limit` may claim (the leader is index 0, helpers
// get 1, 2, ... from ck_team_join). Members only ever wait for tasks already claimed by a
// running member or for the leader, so members running one after another cannot deadlock.
// Helpers spin for spin_ns after their last task, then block on a futex until woken.
typedef struct ck_team ck_team;
ck_team* ck_team_create(int64_t spin_ns);  // NULL when out of memory
void ck_team_destroy(ck_team* team);
void ck_team_reset(ck_team* team);         // before each region (no member may be inside)
int ck_team_take_lead(ck_team* team);      // 1 for exactly one caller per region
intptr_t ck_team_join(ck_team* team);      // a helper's index (1, 2, ...)
// Helper, before joining: wait up to spin_ns for a leader; 1 when one is running, 0 when none
// came or the region has ended (the helper then leaves).
int ck_team_wait_leader(ck_team* team);
intptr_t ck_team_max_tasks(void);          // the largest `tasks` a phase may have
// Leader: start a phase (after the previous one is complete). body is opaque to C.
void ck_team_publish(ck_team* team, intptr_t tasks, intptr_t limit, void* body);
// Any member: claim the next task of the current phase (1, with *task and *body) or 0.
int ck_team_claim(ck_team* team, intptr_t index, intptr_t* task, void** body);
void ck_team_task_done(ck_team* team);
// Leader: wait until the current phase's `tasks` tasks are done (all must be claimed).
void ck_team_wait_phase(ck_team* team, intptr_t tasks);
// Leader: end the region; helpers return from ck_team_wait_work with 0.
void ck_team_finish(ck_team* team);
// Helper: wait until a task is claimable by `index` (1) or the region has ended (0).
int ck_team_wait_work(ck_team* team, intptr_t index);
// The calling thread's current team marker (NULL outside any region); opaque to C.
void* ck_thread_team(void);
void ck_set_thread_team(void* team);

// ---- Memory (ck_memory.c) ----
// Asks the OS to back [p, p + bytes) with transparent huge pages (p and bytes multiples of
// 2 MiB); best effort, a no-op where unsupported. Called before the memory is first touched.
void ck_advise_huge_pages(void* p, size_t bytes);

// ---- FMA throughput probe (ck_f32_fma_peak__avx2_fma.c) ----
// Runs `iterations` steps of 12 independent 8-lane FMA chains (192 FLOP per step) and
// returns a value that depends on all of them (so the work is not optimised away).
// Used to measure the machine's f32 FMA peak.
float ck_f32_fma_peak_probe__avx2_fma(size_t iterations);
// The same with 12 zmm chains (32 FLOPs per FMA); call only when the CPU has AVX-512F.
float ck_f32_fma_peak_probe__avx512f(size_t iterations);

// ---- f32 GEMM micro-kernels (ck_f32_gemm_*.c) ----
//
// C[0..mr, 0..nr] (+)= A * B for one MR x NR tile, where
//   A is a packed micro-panel of kc x CK_GEMM_MR floats (for each k: MR consecutive rows),
//   B is a packed micro-panel of kc x CK_GEMM_NR floats (for each k: NR consecutive columns),
//   C is row-major with row stride ldc floats (a row is an output channel, a column a pixel).
// flags: CK_GEMM_ACCUMULATE adds to C (else C is overwritten, starting from `bias`
// when bias != NULL, else from 0); CK_GEMM_CLAMP applies min(max(x, lo), hi) before the
// store (NaN propagates). Rows >= mr and columns >= nr are neither read nor written.
// Preconditions: kc >= 1, 1 <= mr <= MR, 1 <= nr <= NR.
#define CK_GEMM_MR 6
#define CK_GEMM_NR 16
#define CK_GEMM_ACCUMULATE 1u
#define CK_GEMM_CLAMP 2u

void ck_f32_gemm_ukernel_6x16__avx2_fma(
    size_t kc, const float* a, const float* b, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi);

// The same contract for AVX-512F with 32 columns (ck_f32_gemm_6x32__avx512f.c): columns 0-15
// from the packed B micro-panel at b, columns 16-31 from the one at b + b_panel_stride (read
// only when nr > 16), 1 <= nr <= 32. Each output's sum equals the 6x16 kernel's bit for bit.
// Call only when the CPU has AVX-512F.
void ck_f32_gemm_ukernel_6x32__avx512f(
    size_t kc, const float* a, const float* b, size_t b_panel_stride, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi);

// The same contract for AVX-512F with 12 rows (ck_f32_gemm_12x16__avx512f.c): rows 0-5 from the
// packed A micro-panel at a, rows 6-11 from the one at a + a_panel_stride (read only when mr > 6),
// 1 <= mr <= 12, bias (when used) 12 values. Each output's sum equals the 6x16 kernel's bit for
// bit. Call only when the CPU has AVX-512F.
void ck_f32_gemm_ukernel_12x16__avx512f(
    size_t kc, const float* a, size_t a_panel_stride, const float* b, float* c, size_t ldc,
    size_t mr, size_t nr, uint32_t flags, const float* bias, float lo, float hi);

// ---- f32 depthwise kernel (ck_f32_dwconv_*.c) ----
// One channel, one output row segment whose taps are all in bounds:
//   y[j] += sum_{r < kh, s < kw} w[r * kw + s] * x[r * x_row_stride + j * stride + s * dilation]
// for j in [0, count). x points at the top-left tap of the segment's first output; y holds
// the running sum (for example the bias) and receives the result. No clamping.
void ck_f32_dwconv_row_ukernel__avx2_fma(
    size_t count, size_t kh, size_t kw, const float* x, size_t x_row_stride,
    size_t stride, size_t dilation, const float* w, float* y);

// One channel plane: x is the zero-padded input plane (rows x_row_stride floats apart), y the
// out_h x out_w output plane (contiguous rows):
//   y[oy][ox] = clamp(bias + sum_{r < kh, s < kw} w[r * kw + s] * x[(oy * stride + r * dilation) * x_row_stride
//                                                                 + ox * stride + s * dilation])
// with CK_GEMM_CLAMP in flags (NaN propagates), plus the prior y before the clamp with
// CK_CONV_ACCUMULATE. Reads up to 8 * stride + 8 floats past the last tap of a row's last
// output (the caller pads the plane's allocation); writes only the out_h x out_w outputs.
void ck_f32_dwconv_plane_ukernel__avx2_fma(
    const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t kh, size_t kw, size_t stride,
    size_t dilation, const float* w, float bias, uint32_t flags, float lo, float hi, float* y);
// The same contract for AVX-512F (ck_f32_dwconv_plane__avx512f.c): square 3x3, 5x5 and 7x7
// filters with dilation 1 or 2 and stride 1 or 2 run 2 rows x 32 outputs per step (4 rows x 16 on
// planes one vector wide), each input row loaded once, masked to the plane (nothing read past a
// row's last tap), bit-identical to the AVX2 kernel; other filters, strides and dilations run the
// AVX2 kernel. Call only when the CPU has AVX-512F.
void ck_f32_dwconv_plane_ukernel__avx512f(
    const float* x, size_t x_row_stride, size_t out_h, size_t out_w, size_t kh, size_t kw, size_t stride,
    size_t dilation, const float* w, float bias, uint32_t flags, float lo, float hi, float* y);
// The same kernel (kernel_size 3, 5 or 7, dilation 1 or 2, stride 1 or 2; it does nothing otherwise)
// on an input plane without a copied border: x is the in_h x in_w plane (contiguous rows) inside
// an implicit zero border of pad_top rows above and pad_left columns to the left (and zeros past
// its right and bottom edges):
//   y[oy][ox] = clamp(bias + sum_{r, s < k} w[r * k + s] * xp[oy * stride + r * dilation][ox * stride + s * dilation])
// where xp[i][j] = x[(i - pad_top) * in_w + j - pad_left] inside the plane and 0 outside. Reads
// only the plane's floats (masked loads), writes only the out_h x out_w outputs; bit-identical to
// ck_f32_dwconv_plane_ukernel__avx512f over the explicitly padded plane. Call only when the CPU
// has AVX-512F.
void ck_f32_dwconv_unpadded_ukernel__avx512f(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kernel_size, size_t stride, size_t dilation, const float* w, float bias, uint32_t flags, float lo,
    float hi, float* y);
// Depthwise, 16 channels as the vector (ck_f32_dwconv_c16__avx512f.c): `channels` (1..16) planes
// of in_h x in_w floats at x (contiguous planes) inside an implicit zero border (pad_top rows
// above, pad_left columns to the left, zeros past the right and bottom edges), any kh x kw
// filter, stride 1 or 2 (both axes), any dilation (both axes):
//   y[ch][oy][ox] = clamp(bias[ch] + sum_{r < kh, s < kw} w[(r * kw + s) * 16 + ch]
//                                          * xp[ch][oy * stride + r * dilation][ox * stride + s * dilation])
// into `channels` planes of out_h x out_w at y, with the flags of the plane kernel (CK_GEMM_CLAMP,
// NaN propagating; CK_CONV_ACCUMULATE adds the prior y before the clamp). w holds kh * kw rows of
// 16 weights and bias 16 values (channels past `channels` are read and ignored). scratch: at least
// hp * wp * 16 floats, hp = stride * (out_h - 1) + dilation * (kh - 1) + 1 and
// wp = stride * (out_w - 1) + dilation * (kw - 1) + 1 (any contents; overwritten). Reads only
// the planes' floats, writes only the outputs. Bit-identical to ck_f32_dwconv_plane_ukernel__avx2_fma
// over the zero-padded planes. Does nothing for other strides or channel counts. Call only when the
// CPU has AVX-512F.
void ck_f32_dwconv_c16_ukernel__avx512f(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kh, size_t kw, size_t stride, size_t dilation, size_t channels, const float* w, const float* bias,
    uint32_t flags, float lo, float hi, float* scratch, float* y);
// The same contract for AVX2+FMA with 8 channels (ck_f32_dwconv_c8__avx2_fma.c): `channels` 1..8,
// w kh * kw rows of 8 weights, bias 8 values, scratch hp * wp * 8 floats. Bit-identical to
// ck_f32_dwconv_plane_ukernel__avx2_fma over the zero-padded planes.
void ck_f32_dwconv_c8_ukernel__avx2_fma(
    const float* x, size_t in_h, size_t in_w, size_t pad_top, size_t pad_left, size_t out_h, size_t out_w,
    size_t kh, size_t kw, size_t stride, size_t dilation, size_t channels, const float* w, const float* bias,
    uint32_t flags, float lo, float hi, float* scratch, float* y);

// ---- im2col rows (ck_f32_im2col_rows__avx512f.c) ----
// The lowered input of output pixels first_pixel .. first_pixel + pixel_count - 1 (row-major
// over output rows of out_w pixels) of one image x (channels planes of in_h x in_w floats):
//   dst[((c * kh + r) * kw + s) * dst_stride + p] = xp[c][oy * stride_h + r * dilation_h][ox * stride_w + s * dilation_w]
// for output pixel first_pixel + p = (oy, ox), where xp is x inside an implicit zero border of
// pad_top rows above and pad_left columns to the left (zeros past the right and bottom edges).
// Reads only the plane's floats, writes only those pixel_count floats of each of the
// channels * kh * kw rows. Stride 1 and 2 along rows are vectorised. Call only when the CPU has
// AVX-512F.
void ck_f32_im2col_rows__avx512f(
    const float* x, size_t channels, size_t in_h, size_t in_w, size_t kh, size_t kw, size_t stride_h,
    size_t stride_w, size_t dilation_h, size_t dilation_w, size_t pad_top, size_t pad_left, size_t out_w,
    size_t first_pixel, size_t pixel_count, float* dst, size_t dst_stride);

// ---- Pointwise convolution kernel (ck_f32_conv1x1_6x16__avx2_fma.c) ----
// For output channels i < mr (1..6) and pixels p < pixel_count of one image:
//   y[i * y_channel_stride + p] = clamp(bias[i] + sum_{c < channels} w[c * 6 + i] * x[c * x_channel_stride + p])
// where w is a packed panel of channels x 6 weights, bias (6 values) may be NULL (zero), the clamp
// applies with CK_GEMM_CLAMP (NaN propagates), and CK_CONV_ACCUMULATE adds the prior y before
// the clamp. Pixels go 16 at a time (the input is read in place); a last partial step reads
// and writes only its pixels (masked loads and stores).
void ck_f32_conv1x1_tiles_6x16__avx2_fma(
    size_t channels, const float* w, const float* x, size_t x_channel_stride, size_t pixel_count, float* y,
    size_t y_channel_stride, size_t mr, const float* bias, uint32_t flags, float lo, float hi);

// The same contract for AVX-512F (ck_f32_conv1x1_6xN__avx512f.c): 64 pixels per step, a last
// partial step in whole 16-pixel vectors, the last one masked. Call only when the CPU has
// AVX-512F (ck_cpu_features() & CK_CPU_AVX512F).
void ck_f32_conv1x1_tiles_6x64__avx512f(
    size_t channels, const float* w, const float* x, size_t x_channel_stride, size_t pixel_count, float* y,
    size_t y_channel_stride, size_t mr, const float* bias, uint32_t flags, float lo, float hi);

// ---- Fully connected kernel (ck_f32_fc_4x3__avx2_fma.c) ----
// For outputs o < nw (1..4) and samples n < nx (1..3):
//   y[n * ldy + o] = clamp(bias[o] + sum_{i < k} w[o * ldw + i] * x[n * ldx + i])
// (bias may be NULL; the clamp applies with CK_GEMM_CLAMP, NaN propagates). Reads only rows
// o < nw of w and n < nx of x, k floats each (a masked tail). Each sum's operations do not
// depend on nw or nx.
void ck_f32_fc_ukernel_4x3__avx2_fma(
    size_t k, const float* w, size_t ldw, size_t nw, const float* x, size_t ldx, size_t nx, float* y, size_t ldy,
    const float* bias, uint32_t flags, float lo, float hi);
// One sample, outputs o < nw (1..8): y[o] = clamp(bias[o] + sum_{i < k} w[o * ldw + i] * x[i]),
// each sum by the same operations as in ck_f32_fc_ukernel_4x3__avx2_fma (bit-identical).
void ck_f32_fc_ukernel_8x1__avx2_fma(
    size_t k, const float* w, size_t ldw, size_t nw, const float* x, float* y,
    const float* bias, uint32_t flags, float lo, float hi);

// ---- Pooling (ck_f32_pool2d__avx2.c) ----
// Max (is_max) or average pooling of one h x w plane into out_h x out_w (windows kh x kw,
// strides sh, sw, padding as given; windows clipped to the input; max propagates NaN, average
// divides by the window's area clipped to the padded input when count_include_pad, else by
// its number of input values). row is scratch of at least w + 32 floats. Windows must hold at
// least one input value (padding at most half the window).
void ck_f32_pool2d_plane__avx2(
    int is_max, int count_include_pad, const float* x, size_t h, size_t w, size_t out_h, size_t out_w, size_t kh,
    size_t kw, size_t sh, size_t sw, size_t pad_top, size_t pad_left, size_t pad_bottom, size_t pad_right,
    float* row, float* y);

// ---- Winograd F(4x4, 3x3) transforms (ck_f32_winograd_f4x3__avx2_fma.c) ----
// 8 tiles at a time, lane t = tile t of the group.
//
// Input: for each of `channels` channels (channel c at x + c * channel_stride, rows
// row_stride floats apart), gathers the 6x6 patches of the group's 8 tiles and stores
// V = B^T d B as 36 vectors: position p of channel c at v + c * v_channel_stride + p * v_position_stride.
// Patches are located either by `offsets` (8 corner offsets, when not NULL; reads 8 floats
// per patch row) or, when `offsets` is NULL, as 8 horizontally consecutive tiles whose first
// corner is at row_a; lanes >= b_from_lane (if < 8) come instead from the consecutive tiles
// whose (virtual) first corner is at row_b (a group that wraps to the next tile row).
// Reads up to 36 floats from a row corner.
void ck_f32_winograd_f4x3_input_ukernel__avx2_fma(
    size_t channels, const float* x, size_t channel_stride, size_t row_stride,
    ptrdiff_t row_a, ptrdiff_t row_b, uint32_t b_from_lane, const int32_t* offsets,
    float* v, size_t v_channel_stride, size_t v_position_stride);

// Output: for each of `channels` output channels (M at m + k * m_channel_stride, position p at
// + p * m_position_stride, 8 tiles per vector), computes A^T M A + bias[k] and clamps to
// [lo, hi] when flags has CK_GEMM_CLAMP (NaN propagates). The 4x4 outputs of the 8 tiles go to
// channel k at y + k * y_channel_stride, rows y_row_stride apart:
//   - with tile_offsets NULL: as 4 rows of 32 contiguous floats (8 whole tiles side by side);
//   - else: tile t's top-left (tile_extents[t] >> 4) x (tile_extents[t] & 15) outputs at
//     tile_offsets[t], skipped when tile_offsets[t] < 0 (as in the generic output kernel).
void ck_f32_winograd_f4x3_output_ukernel__avx2_fma(
    size_t channels, const float* m, size_t m_channel_stride, size_t m_position_stride,
    const float* bias, uint32_t flags, float lo, float hi,
    float* y, size_t y_channel_stride, size_t y_row_stride, const ptrdiff_t* tile_offsets,
    const int32_t* tile_extents);

// ---- Winograd transforms for alpha = 4 or 8: F(2x2, 3x3), F(6x6, 3x3) (ck_f32_winograd_generic__avx2_fma.c) ----
// Dense products with the caller's matrices, 8 tiles at a time (lane t = tile t). Any other
// alpha: the functions do nothing.
//
// Input: bt is B^T (alpha x alpha, row-major). For each of `channels` channels (at
// x + c * channel_stride, rows row_stride floats apart), reads the alpha x alpha patch of
// tile t at offsets[t] (8 floats per patch row) and stores V = B^T d B: position p of
// channel c at v + c * v_channel_stride + p * v_position_stride.
void ck_f32_winograd_input_ukernel__avx2_fma(
    size_t alpha, const float* bt, size_t channels, const float* x, size_t channel_stride, size_t row_stride,
    const int32_t* offsets, float* v, size_t v_channel_stride, size_t v_position_stride);

// Output: at is A^T (m x alpha, m = alpha - 2). For each of `channels` channels (M at
// m + k * m_channel_stride, position p at + p * m_position_stride), computes A^T M A + bias[k],
// clamps to [lo, hi] when flags has CK_GEMM_CLAMP (NaN propagates), and stores tile t's
// top-left (tile_extents[t] >> 4) x (tile_extents[t] & 15) outputs at
// y + k * y_channel_stride + tile_offsets[t] (rows y_row_stride apart); tiles with a negative
// offset are not stored.
void ck_f32_winograd_output_ukernel__avx2_fma(
    size_t alpha, const float* at, size_t channels, const float* m, size_t m_channel_stride,
    size_t m_position_stride, const float* bias, uint32_t flags, float lo, float hi, float* y,
    size_t y_channel_stride, size_t y_row_stride, const ptrdiff_t* tile_offsets, const int32_t* tile_extents);

// ---- Indirect direct-convolution kernel (ck_f32_conv_6x16__avx2_fma.c) ----
// Register tile: 6 output pixels x 16 output channels. For each tile of pixels j < np (1..6)
// and channels i < nk (1..16):
//   out_j[i * channel_stride] = clamp(bias[i] + sum_{d in D} w[d * 16 + i] * pixel_j[taps[d]])
// where w is a packed panel of depth x 16 weights, bias (16 values) may be NULL (zero), the
// clamp to [lo, hi] applies when flags has CK_GEMM_CLAMP (NaN propagates), and D is all the
// taps, or fewer with ck_conv_rows below.

// Flag of ck_f32_conv_tiles_6x16__avx2_fma: prefetch the input taps 16 steps ahead (for
// inputs far larger than L2; it costs load slots when they are cached). taps[] must then have
// 16 readable entries past depth.
#define CK_CONV_PREFETCH_INPUT 4u
// Flag of ck_f32_conv_tiles_6x16__avx2_fma: add the result to the prior contents of the
// output before the clamp: out = clamp(out + bias + sum) (a fused residual addition).
#define CK_CONV_ACCUMULATE 8u
// Flag of ck_f32_conv_tiles_6x32__avx512f: tiles of 7 pixels instead of 6 (the last one may be
// smaller), for pixel ranges of 7n pixels (a 7x7 plane in 7 whole tiles instead of 9 of 6, the
// last one nearly empty). Each output's sum is the same with either tile.
#define CK_CONV_TILE7 16u

// Geometry for ck_f32_conv_tiles_6x16__avx2_fma, with the taps in (r, s, c) order: tap d belongs
// to kernel row d / taps_per_row and, within it, to kernel column (d % taps_per_row) / channels.
// When skip is non-zero, the kernel rows whose input row (oy * stride + r * dilation - pad_top)
// is outside [0, input_height) for every pixel of a tile are left out of that tile's sum (they
// read zero padding). When skip_cols is non-zero (read by the AVX-512F pair kernel only), a tile
// within one output row also leaves out, pixel by pixel, the kernel columns whose input column
// (ox * col_stride + s * col_dilation - pad_left) is outside [0, input_width): their products
// are with zero padding, so the sums are unchanged for finite weights.
typedef struct {
  size_t kernel_rows, taps_per_row, input_height, pad_top, stride, dilation;
  int skip;
  size_t kernel_cols, channels, input_width, pad_left, col_stride, col_dilation;
  int skip_cols;
} ck_conv_rows;

// Runs that tile over output pixels [first_pixel, first_pixel + pixel_count) of one image
// (row-major, output_width per row), 6 at a time: pixel (oy, ox) reads its taps at
// image + oy * row_step + ox * col_step and writes channel i at out + i * channel_stride + pixel.
void ck_f32_conv_tiles_6x16__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t col_step,
    size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk,
    const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows);

// The same tile loop for AVX-512F (ck_f32_conv_6x32__avx512f.c): 6 pixels x 32 output channels,
// channels 0-15 from the panel at w and 16-31 from the panel at w + w_panel_stride (two
// consecutive panels of the packing above), 17 <= nk <= 32, bias 32 values (or NULL); or, with
// nk <= 16, the panel at w alone (w_panel_stride unused, bias 16 values or NULL). Each
// output's sum is the AVX2 kernel's, in the same order. Call only when the CPU has AVX-512F.
void ck_f32_conv_tiles_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, const int32_t* taps, const float* image, size_t row_step,
    size_t col_step, size_t output_width, size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride,
    size_t nk, const float* bias, uint32_t flags, float lo, float hi, const ck_conv_rows* rows);

// The input read in place, for AVX-512F (ck_f32_conv_6x32__avx512f.c): output rows
// [first_row, first_row + row_count) of one image, all output_width pixels of each, in tiles of
// up to 7 pixels that never cross a row end, or, for rows of at most 4 pixels with at least 160
// channels (rows->channels), of up to 8 pixels in whole rows (each pixel still sums only its own
// taps inside the image). panels (1 or 2) consecutive 16-channel panels at w
// and w + w_panel_stride, nk <= 16 * panels, bias 16 * panels values (or NULL). image is the
// group's first input channel, unpadded (rows->input_height x rows->input_width per channel);
// pixel (oy, ox) has its taps at image + oy * row_step + ox * col_step
// - (rows->pad_top * rows->input_width + rows->pad_left) + taps[d], with the taps in (r, s, c)
// order when rows->skip_cols (needed whenever the layer pads left or right). rows->skip must be
// set; each pixel then sums exactly its taps inside the image, so nothing outside it is read.
// Requires rows->kernel_cols <= 16 and kernel_rows * kernel_cols <= 64. Same sums, in the same
// order, as ck_f32_conv_tiles_6x16__avx2_fma over a zero-padded copy (for finite weights).
void ck_f32_conv_rows_6x32__avx512f(
    size_t depth, const float* w, size_t w_panel_stride, size_t panels, const int32_t* taps, const float* image,
    size_t row_step, size_t col_step, size_t output_width, size_t first_row, size_t row_count, float* out,
    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const ck_conv_rows* rows);
// The same for AVX2 + FMA (ck_f32_conv_6x16__avx2_fma.c): one 16-channel panel (panels and
// w_panel_stride are ignored, nk <= 16), tiles of up to 6 pixels within each output row (none
// of several rows).
void ck_f32_conv_rows_6x16__avx2_fma(
    size_t depth, const float* w, size_t w_panel_stride, size_t panels, const int32_t* taps, const float* image,
    size_t row_step, size_t col_step, size_t output_width, size_t first_row, size_t row_count, float* out,
    size_t channel_stride, size_t nk, const float* bias, uint32_t flags, float lo, float hi,
    const ck_conv_rows* rows);

// ---- Few-output-channel direct convolution kernel (ck_f32_conv_fewk_8px__avx2_fma.c) ----
// Stride 1, nk (1..12) output channels, the weights of the indirect kernel's single panel
// (w[d * 16 + i]): for output pixels p in [first_pixel, first_pixel + pixel_count) of one image
// (row-major, output_width per row; pixel (oy, ox) reads its taps at image + oy * row_step + ox):
//   out[i * channel_stride + p] = clamp(bias[i] + sum_{d < depth} w[d * 16 + i] * pixel[taps[d]])
// 8 pixels of a row per step (masked at a row's end: nothing is read or written past it).
// bias may be NULL; CK_CONV_ACCUMULATE adds the prior output before the clamp; CK_GEMM_CLAMP
// clamps to [lo, hi] (NaN propagates).
void ck_f32_conv_fewk_8px__avx2_fma(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t output_width,
    size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk, const float* bias,
    uint32_t flags, float lo, float hi);

// The same contract for AVX-512F (ck_f32_conv_fewk_32px__avx512f.c): up to 32 pixels of a row
// per step in two masked zmm vectors, bit-identical to the AVX2 kernel. Call only when the CPU
// has AVX-512F.
void ck_f32_conv_fewk_32px__avx512f(
    size_t depth, const float* w, const int32_t* taps, const float* image, size_t row_step, size_t output_width,
    size_t first_pixel, size_t pixel_count, float* out, size_t channel_stride, size_t nk, const float* bias,
    uint32_t flags, float lo, float hi);

#ifdef __cplusplus
}
#endif
#endif
