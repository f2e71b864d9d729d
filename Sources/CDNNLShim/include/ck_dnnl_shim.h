// CDNNLShim: a small, flat C API over oneDNN 2.x for ConvKit's `onednn` backend.
//
// oneDNN is an optional dependency, used automatically when present:
// - The real code is compiled only where <oneapi/dnnl/dnnl.h> (oneDNN 2.x) exists at
//   build time; otherwise every function reports CK_DNNL_STATUS_UNAVAILABLE.
// - The library is never linked: the shim dlopen()s "libdnnl.so.2" (then "libdnnl.so")
//   on first use and resolves every function it calls with dlsym.
// - CONVKIT_DISABLE_ONEDNN set to a non-empty value other than "0" (read once, on first
//   use) makes the shim report itself unavailable without loading anything.
//
// This header deliberately includes no oneDNN header: it only uses C types, so Swift can
// import it on every machine.
//
// Threading: ck_dnnl_is_available, ck_dnnl_unavailable_reason and ck_dnnl_status_name may
// be called from any thread. Calls on one ck_dnnl_conv (and its variants) must be
// serialized by the caller. Each calling thread gets its own oneDNN stream.
#ifndef CK_DNNL_SHIM_H
#define CK_DNNL_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes: 0...6 are oneDNN's dnnl_status_t values (dnnl_success = 0); the
/// negative values are the shim's own.
enum {
    CK_DNNL_STATUS_SUCCESS = 0,
    /// oneDNN is not usable here; see ck_dnnl_unavailable_reason().
    CK_DNNL_STATUS_UNAVAILABLE = -1,
    /// The shim could not allocate its own bookkeeping.
    CK_DNNL_STATUS_OUT_OF_MEMORY = -2,
    /// A NULL or out-of-range argument was passed to the shim.
    CK_DNNL_STATUS_INVALID_ARGUMENT = -3,
};

/// Fused activations.
enum {
    CK_DNNL_ACTIVATION_NONE = 0,
    CK_DNNL_ACTIVATION_RELU = 1,
    /// min(max(x, activation_min), activation_max)
    CK_DNNL_ACTIVATION_CLAMP = 2,
};

/// What failed: `status` as above, `operation` a static string naming the call
/// (for example "dnnl_primitive_desc_create(convolution)"); both set only on failure.
typedef struct {
    int status;
    const char *operation;
} ck_dnnl_error;

/// One 2-D convolution, ConvKit's conventions: NCHW input, OIHW weights
/// (K x C/groups x R x S), dilation counted from 1 (1 = none), asymmetric padding.
typedef struct {
    int64_t batch, channels, height, width;
    int64_t filters, kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_left, pad_bottom, pad_right;
    int64_t dilation_h, dilation_w;
    int64_t groups;
    int64_t out_h, out_w;
    int32_t has_bias;
    int32_t activation;
    float activation_min, activation_max;
} ck_dnnl_conv_params;

/// A prepared convolution: the weights in oneDNN's chosen layout, the bias, and the
/// primitive variants created so far (one per thread count).
typedef struct ck_dnnl_conv ck_dnnl_conv;
/// The primitives (src reorder, convolution, dst reorder) created for one thread count.
/// Owned by its ck_dnnl_conv and destroyed with it.
typedef struct ck_dnnl_variant ck_dnnl_variant;

/// 1 when oneDNN was found and loaded (loads it on the first call), else 0.
int ck_dnnl_is_available(void);
/// Why oneDNN is unavailable, or NULL when it is available. Static storage.
const char *ck_dnnl_unavailable_reason(void);
/// The reason CONVKIT_DISABLE_ONEDNN=`value` disables oneDNN, or NULL when that value
/// does not disable it (NULL, "" and "0" do not). Pure; exposed for tests.
const char *ck_dnnl_disabled_reason(const char *value);
/// The name of a status code ("dnnl_unimplemented", "ck_dnnl_unavailable"...). Static storage.
const char *ck_dnnl_status_name(int status);
/// The loaded library's version as "major.minor.patch", or NULL when unavailable.
const char *ck_dnnl_library_version(void);

/// Creates the convolution: primitive descriptor (layouts chosen by oneDNN), weights
/// reordered once into the chosen layout, bias copied, and the primitive variant for
/// `threads` (see ck_dnnl_conv_variant). `weights` (K x C/groups x R x S floats) and
/// `bias` (K floats, or NULL when !has_bias) are only read.
/// Returns 0, or a status with `err` filled in and `*out` left NULL.
int ck_dnnl_conv_create(const ck_dnnl_conv_params *params, const float *weights,
                        const float *bias, int threads, ck_dnnl_conv **out,
                        ck_dnnl_error *err);
/// The variant for `threads`, creating it (primitive descriptor and primitives created
/// with the OpenMP thread count set to `threads`, since oneDNN fixes its thread
/// partitioning then) when it does not exist yet. Returns 0 or a status.
int ck_dnnl_conv_variant(ck_dnnl_conv *conv, int threads, ck_dnnl_variant **out,
                         ck_dnnl_error *err);
/// Destroys the convolution and all its variants. NULL is ignored.
void ck_dnnl_conv_destroy(ck_dnnl_conv *conv);

/// oneDNN's implementation name for the convolution of the first variant (for example
/// "jit:avx2"). Valid while the convolution lives.
const char *ck_dnnl_conv_implementation(const ck_dnnl_conv *conv);
/// Bytes of intermediate buffers (blocked src and dst) plus oneDNN's scratchpad.
size_t ck_dnnl_conv_workspace_bytes(const ck_dnnl_conv *conv);

/// NCHW in, NCHW out: src reorder, convolution, dst reorder, stream wait, on the calling
/// thread's stream with the OpenMP thread count set to the variant's (and restored after).
int ck_dnnl_variant_execute(ck_dnnl_variant *variant, const float *src, float *dst,
                            ck_dnnl_error *err);
/// Only the convolution primitive, on the intermediate (blocked) buffers. When oneDNN
/// reads or writes plain NCHW directly, buffers owned by the convolution are allocated
/// on the first call and used instead of the caller's.
int ck_dnnl_variant_execute_core(ck_dnnl_variant *variant, ck_dnnl_error *err);

#ifdef __cplusplus
}
#endif

#endif
