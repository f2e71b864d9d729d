// CDNNLShim: see include/ck_dnnl_shim.h.
//
// The oneDNN API used here is oneDNN 2.x's C API (dnnl.h); oneDNN 3 changed it, so the
// real code is compiled only against a 2.x header and the loaded library must be 2.x.
#include "ck_dnnl_shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// MARK: - Available everywhere

const char *ck_dnnl_status_name(int status) {
    // dnnl_status_t values are part of oneDNN 2.x's ABI; spelled out so that the names
    // exist without the header.
    switch (status) {
    case 0: return "dnnl_success";
    case 1: return "dnnl_out_of_memory";
    case 2: return "dnnl_invalid_arguments";
    case 3: return "dnnl_unimplemented";
    case 4: return "dnnl_iterator_ends";
    case 5: return "dnnl_runtime_error";
    case 6: return "dnnl_not_required";
    case CK_DNNL_STATUS_UNAVAILABLE: return "ck_dnnl_unavailable";
    case CK_DNNL_STATUS_OUT_OF_MEMORY: return "ck_dnnl_out_of_memory";
    case CK_DNNL_STATUS_INVALID_ARGUMENT: return "ck_dnnl_invalid_argument";
    default: return "unknown status";
    }
}

const char *ck_dnnl_disabled_reason(const char *value) {
    if (value == NULL || value[0] == '\0' || strcmp(value, "0") == 0) return NULL;
    return "disabled by CONVKIT_DISABLE_ONEDNN";
}

static void set_error(ck_dnnl_error *err, int status, const char *operation) {
    if (err) {
        err->status = status;
        err->operation = operation;
    }
}

// CK_DNNL_SIMULATE_NO_HEADERS compiles the header-less variant on a machine that has the
// headers (to check that variant; the package never defines it).
#if defined(__has_include) && !defined(CK_DNNL_SIMULATE_NO_HEADERS)
#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#if DNNL_VERSION_MAJOR == 2
#define CK_DNNL_REAL 1
#else
#define CK_DNNL_WRONG_HEADER 1
#endif
#endif
#endif

#ifndef CK_DNNL_REAL

// MARK: - Built without oneDNN 2.x headers

#ifdef CK_DNNL_WRONG_HEADER
#define CK_DNNL_NO_HEADER_REASON                                                                   \
    "the oneDNN headers found at build time are not oneDNN 2.x; install libdnnl-dev (oneDNN 2.x) " \
    "and rebuild"
#else
#define CK_DNNL_NO_HEADER_REASON \
    "oneDNN headers not found at build time; install libdnnl-dev and rebuild"
#endif

int ck_dnnl_is_available(void) { return 0; }
const char *ck_dnnl_unavailable_reason(void) { return CK_DNNL_NO_HEADER_REASON; }
const char *ck_dnnl_library_version(void) { return NULL; }

int ck_dnnl_conv_create(const ck_dnnl_conv_params *params, const float *weights,
                        const float *bias, int threads, ck_dnnl_conv **out,
                        ck_dnnl_error *err) {
    (void)params; (void)weights; (void)bias; (void)threads;
    if (out) *out = NULL;
    set_error(err, CK_DNNL_STATUS_UNAVAILABLE, "ck_dnnl_conv_create");
    return CK_DNNL_STATUS_UNAVAILABLE;
}
int ck_dnnl_conv_variant(ck_dnnl_conv *conv, int threads, ck_dnnl_variant **out,
                         ck_dnnl_error *err) {
    (void)conv; (void)threads;
    if (out) *out = NULL;
    set_error(err, CK_DNNL_STATUS_UNAVAILABLE, "ck_dnnl_conv_variant");
    return CK_DNNL_STATUS_UNAVAILABLE;
}
void ck_dnnl_conv_destroy(ck_dnnl_conv *conv) { (void)conv; }
const char *ck_dnnl_conv_implementation(const ck_dnnl_conv *conv) { (void)conv; return ""; }
size_t ck_dnnl_conv_workspace_bytes(const ck_dnnl_conv *conv) { (void)conv; return 0; }
int ck_dnnl_variant_execute(ck_dnnl_variant *variant, const float *src, float *dst,
                            ck_dnnl_error *err) {
    (void)variant; (void)src; (void)dst;
    set_error(err, CK_DNNL_STATUS_UNAVAILABLE, "ck_dnnl_variant_execute");
    return CK_DNNL_STATUS_UNAVAILABLE;
}
int ck_dnnl_variant_execute_core(ck_dnnl_variant *variant, ck_dnnl_error *err) {
    (void)variant;
    set_error(err, CK_DNNL_STATUS_UNAVAILABLE, "ck_dnnl_variant_execute_core");
    return CK_DNNL_STATUS_UNAVAILABLE;
}

#else

// MARK: - The real shim

#include <dlfcn.h>
#include <pthread.h>

// Every oneDNN function the shim calls, resolved with dlsym; the pointer types come from
// the header's prototypes.
#define CK_DNNL_FUNCTIONS(X)                        \
    X(dnnl_version)                                 \
    X(dnnl_engine_create)                           \
    X(dnnl_stream_create)                           \
    X(dnnl_stream_destroy)                          \
    X(dnnl_stream_wait)                             \
    X(dnnl_memory_desc_init_by_tag)                 \
    X(dnnl_memory_desc_equal)                       \
    X(dnnl_memory_desc_get_size)                    \
    X(dnnl_memory_create)                           \
    X(dnnl_memory_destroy)                          \
    X(dnnl_memory_get_data_handle)                  \
    X(dnnl_memory_set_data_handle)                  \
    X(dnnl_dilated_convolution_forward_desc_init)   \
    X(dnnl_post_ops_create)                         \
    X(dnnl_post_ops_destroy)                        \
    X(dnnl_post_ops_append_eltwise)                 \
    X(dnnl_primitive_attr_create)                   \
    X(dnnl_primitive_attr_destroy)                  \
    X(dnnl_primitive_attr_set_post_ops)             \
    X(dnnl_primitive_desc_create)                   \
    X(dnnl_primitive_desc_destroy)                  \
    X(dnnl_primitive_desc_query)                    \
    X(dnnl_primitive_desc_query_md)                 \
    X(dnnl_reorder_primitive_desc_create)           \
    X(dnnl_primitive_create)                        \
    X(dnnl_primitive_destroy)                       \
    X(dnnl_primitive_execute)

static struct {
#define CK_DNNL_DECLARE(name) __typeof__(&name) name;
    CK_DNNL_FUNCTIONS(CK_DNNL_DECLARE)
#undef CK_DNNL_DECLARE
    // From the OpenMP runtime libdnnl is linked against (libgomp); NULL for a build
    // without OpenMP, in which case the thread count cannot be set per call.
    int (*omp_get_max_threads)(void);
    void (*omp_set_num_threads)(int);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int available;
static char unavailable_reason[768];
static char library_version[32];
static dnnl_engine_t engine;           // one per process, never destroyed
static pthread_key_t stream_key;       // destroys a thread's stream when it exits
static __thread dnnl_stream_t thread_stream;

static void destroy_thread_stream(void *stream) {
    if (stream) api.dnnl_stream_destroy((dnnl_stream_t)stream);
}

static void load_library(void) {
    const char *disabled = ck_dnnl_disabled_reason(getenv("CONVKIT_DISABLE_ONEDNN"));
    if (disabled) {
        snprintf(unavailable_reason, sizeof unavailable_reason, "%s", disabled);
        return;
    }
    // libdnnl runs on the GNU OpenMP runtime, whose idle workers spin for GOMP_SPINCOUNT
    // (default 300,000) iterations before sleeping. In a process that also runs ConvKit's own
    // backends on Dispatch threads, those spinning workers take a core away from them: measured,
    // the Winograd backend on 2 threads right after a oneDNN call ran 1.3-1.9x slower. Unless the
    // user chose a policy, keep the spin short (about as fast for oneDNN in our benchmarks).
    // libgomp reads the variable once, when it is loaded: here, unless the host already loaded it.
    if (!getenv("GOMP_SPINCOUNT") && !getenv("OMP_WAIT_POLICY")) setenv("GOMP_SPINCOUNT", "1000", 0);
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        char first[320];
        const char *e = dlerror();
        snprintf(first, sizeof first, "%s", e ? e : "unknown error");
        lib = dlopen("libdnnl.so", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            e = dlerror();
            snprintf(unavailable_reason, sizeof unavailable_reason,
                     "cannot load oneDNN (%s; %s); install libdnnl-dev", first,
                     e ? e : "unknown error");
            return;
        }
    }
#define CK_DNNL_RESOLVE(name)                                                          \
    api.name = (__typeof__(&name))dlsym(lib, #name);                                   \
    if (!api.name) {                                                                   \
        snprintf(unavailable_reason, sizeof unavailable_reason,                        \
                 "the loaded libdnnl has no symbol %s (oneDNN 2.x is required)", #name); \
        return;                                                                        \
    }
    CK_DNNL_FUNCTIONS(CK_DNNL_RESOLVE)
#undef CK_DNNL_RESOLVE
    const dnnl_version_t *v = api.dnnl_version();
    if (!v || v->major != 2) {
        snprintf(unavailable_reason, sizeof unavailable_reason,
                 "the loaded libdnnl is version %d, oneDNN 2.x is required", v ? v->major : -1);
        return;
    }
    snprintf(library_version, sizeof library_version, "%d.%d.%d", v->major, v->minor, v->patch);
    // dlsym on the library's handle also searches the libraries it depends on.
    api.omp_get_max_threads = (int (*)(void))dlsym(lib, "omp_get_max_threads");
    api.omp_set_num_threads = (void (*)(int))dlsym(lib, "omp_set_num_threads");
    if (!api.omp_get_max_threads || !api.omp_set_num_threads) {
        api.omp_get_max_threads = NULL;
        api.omp_set_num_threads = NULL;
    }
    if (pthread_key_create(&stream_key, destroy_thread_stream) != 0) {
        snprintf(unavailable_reason, sizeof unavailable_reason, "pthread_key_create failed");
        return;
    }
    dnnl_status_t st = api.dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (st != dnnl_success) {
        snprintf(unavailable_reason, sizeof unavailable_reason,
                 "dnnl_engine_create(cpu) failed with %s", ck_dnnl_status_name((int)st));
        return;
    }
    available = 1;
}

int ck_dnnl_is_available(void) {
    pthread_once(&load_once, load_library);
    return available;
}

const char *ck_dnnl_unavailable_reason(void) {
    return ck_dnnl_is_available() ? NULL : unavailable_reason;
}

const char *ck_dnnl_library_version(void) {
    return ck_dnnl_is_available() ? library_version : NULL;
}

// The calling thread's stream (a stream must not be used by two threads at once).
static int get_stream(dnnl_stream_t *out, ck_dnnl_error *err) {
    if (!thread_stream) {
        dnnl_stream_t s = NULL;
        dnnl_status_t st = api.dnnl_stream_create(&s, engine, dnnl_stream_default_flags);
        if (st != dnnl_success) {
            set_error(err, (int)st, "dnnl_stream_create");
            return (int)st;
        }
        thread_stream = s;
        pthread_setspecific(stream_key, s);
    }
    *out = thread_stream;
    return 0;
}

// Sets the calling thread's OpenMP thread count for the duration of a shim call.
typedef struct {
    int saved;
    int changed;
} thread_scope;

static thread_scope threads_begin(int threads) {
    thread_scope scope = {0, 0};
    if (api.omp_set_num_threads && threads > 0) {
        scope.saved = api.omp_get_max_threads();
        scope.changed = 1;
        api.omp_set_num_threads(threads);
    }
    return scope;
}

static void threads_end(thread_scope scope) {
    if (scope.changed) api.omp_set_num_threads(scope.saved);
}

// MARK: Objects

struct ck_dnnl_variant {
    ck_dnnl_conv *conv;
    ck_dnnl_variant *next;
    int threads;
    dnnl_primitive_desc_t pd;
    dnnl_memory_desc_t src_md, wei_md, dst_md;  // chosen by oneDNN
    dnnl_primitive_t conv_prim;
    dnnl_primitive_t src_reorder;  // NULL when oneDNN reads NCHW directly
    dnnl_primitive_t dst_reorder;  // NULL when oneDNN writes NCHW directly
    dnnl_memory_t src_mem, wei_mem, dst_mem;  // intermediate src/dst (NULL when plain), weights
    int owns_src, owns_wei, owns_dst;         // else borrowed from the first variant
    dnnl_memory_t core_src, core_dst;         // for execute_core when src/dst are plain
    size_t scratchpad_bytes;
    char impl[128];
};

struct ck_dnnl_conv {
    ck_dnnl_conv_params p;
    dnnl_convolution_desc_t desc;
    dnnl_primitive_attr_t attr;
    dnnl_memory_desc_t user_src_md, user_wei_md, user_dst_md, bias_md;
    dnnl_memory_t user_src, user_dst;  // no buffer; handles set per execution
    dnnl_memory_t bias;                // owned copy, NULL without bias
    ck_dnnl_variant *variants;         // the first one is the one created by ck_dnnl_conv_create
    size_t workspace_bytes;
};

#define CK_TRY(call, operation)                                  \
    do {                                                         \
        dnnl_status_t st_ = (call);                              \
        if (st_ != dnnl_success) {                               \
            set_error(err, (int)st_, (operation));               \
            status = (int)st_;                                   \
            goto fail;                                           \
        }                                                        \
    } while (0)

static void destroy_memory(dnnl_memory_t *m) {
    if (*m) api.dnnl_memory_destroy(*m);
    *m = NULL;
}

static void destroy_primitive(dnnl_primitive_t *p) {
    if (*p) api.dnnl_primitive_destroy(*p);
    *p = NULL;
}

static void destroy_variant(ck_dnnl_variant *v) {
    if (!v) return;
    destroy_primitive(&v->conv_prim);
    destroy_primitive(&v->src_reorder);
    destroy_primitive(&v->dst_reorder);
    if (v->owns_src) destroy_memory(&v->src_mem);
    if (v->owns_wei) destroy_memory(&v->wei_mem);
    if (v->owns_dst) destroy_memory(&v->dst_mem);
    destroy_memory(&v->core_src);
    destroy_memory(&v->core_dst);
    if (v->pd) api.dnnl_primitive_desc_destroy(v->pd);
    free(v);
}

// A memory with its own buffer, zero-filled (so that padded channels read as zero and a
// core-only run before any execution reads defined values).
static dnnl_status_t create_owned_memory(dnnl_memory_t *out, const dnnl_memory_desc_t *md) {
    dnnl_status_t st = api.dnnl_memory_create(out, md, engine, DNNL_MEMORY_ALLOCATE);
    if (st != dnnl_success) return st;
    void *handle = NULL;
    st = api.dnnl_memory_get_data_handle(*out, &handle);
    if (st != dnnl_success) return st;
    size_t size = api.dnnl_memory_desc_get_size(md);
    if (handle && size) memset(handle, 0, size);
    return dnnl_success;
}

// Runs a one-off reorder from `from` to `to` on `stream` and waits for it.
static int run_reorder_once(dnnl_memory_t from, const dnnl_memory_desc_t *from_md, dnnl_memory_t to,
                            const dnnl_memory_desc_t *to_md, dnnl_stream_t stream,
                            ck_dnnl_error *err) {
    int status = 0;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    CK_TRY(api.dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to_md, engine, NULL),
           "dnnl_reorder_primitive_desc_create(weights)");
    CK_TRY(api.dnnl_primitive_create(&prim, pd), "dnnl_primitive_create(weights reorder)");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CK_TRY(api.dnnl_primitive_execute(prim, stream, 2, args), "dnnl_primitive_execute(weights reorder)");
    CK_TRY(api.dnnl_stream_wait(stream), "dnnl_stream_wait");
fail:
    if (prim) api.dnnl_primitive_destroy(prim);
    if (pd) api.dnnl_primitive_desc_destroy(pd);
    return status;
}

// A reorder primitive from `from_md` to `to_md`.
static int create_reorder(dnnl_primitive_t *out, const dnnl_memory_desc_t *from_md,
                          const dnnl_memory_desc_t *to_md, const char *pd_operation,
                          const char *operation, ck_dnnl_error *err) {
    int status = 0;
    dnnl_primitive_desc_t pd = NULL;
    CK_TRY(api.dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to_md, engine, NULL),
           pd_operation);
    CK_TRY(api.dnnl_primitive_create(out, pd), operation);
fail:
    if (pd) api.dnnl_primitive_desc_destroy(pd);
    return status;
}

// Creates the variant for `threads` (the caller has set the OpenMP thread count). The
// first variant takes the weights from `user_weights`; later ones share the first
// variant's buffers where the chosen layouts agree, and own theirs otherwise.
static int create_variant(ck_dnnl_conv *c, int threads, const float *user_weights,
                          dnnl_stream_t stream, ck_dnnl_variant **out, ck_dnnl_error *err) {
    int status = 0;
    ck_dnnl_variant *first = c->variants;
    ck_dnnl_variant *v = calloc(1, sizeof *v);
    dnnl_memory_t user_wei = NULL;
    if (!v) {
        set_error(err, CK_DNNL_STATUS_OUT_OF_MEMORY, "calloc(ck_dnnl_variant)");
        return CK_DNNL_STATUS_OUT_OF_MEMORY;
    }
    v->conv = c;
    v->threads = threads;
    dnnl_status_t pd_status = api.dnnl_primitive_desc_create(&v->pd, &c->desc, c->attr, engine, NULL);
    if (pd_status != dnnl_success) {
        v->pd = NULL;
        set_error(err, (int)pd_status, "dnnl_primitive_desc_create(convolution)");
        status = (int)pd_status;
        goto fail;
    }
    const char *impl = NULL;
    CK_TRY(api.dnnl_primitive_desc_query(v->pd, dnnl_query_impl_info_str, 0, (void *)&impl),
           "dnnl_primitive_desc_query(impl_info_str)");
    snprintf(v->impl, sizeof v->impl, "%s", impl ? impl : "");
    int64_t scratch = 0;
    if (api.dnnl_primitive_desc_query(v->pd, dnnl_query_memory_consumption_s64, 0, &scratch) == dnnl_success
        && scratch > 0) {
        v->scratchpad_bytes = (size_t)scratch;
    }

    const dnnl_memory_desc_t *md;
    md = api.dnnl_primitive_desc_query_md(v->pd, dnnl_query_src_md, 0);
    if (!md) CK_TRY(dnnl_invalid_arguments, "dnnl_primitive_desc_query_md(src)");
    v->src_md = *md;
    md = api.dnnl_primitive_desc_query_md(v->pd, dnnl_query_weights_md, 0);
    if (!md) CK_TRY(dnnl_invalid_arguments, "dnnl_primitive_desc_query_md(weights)");
    v->wei_md = *md;
    md = api.dnnl_primitive_desc_query_md(v->pd, dnnl_query_dst_md, 0);
    if (!md) CK_TRY(dnnl_invalid_arguments, "dnnl_primitive_desc_query_md(dst)");
    v->dst_md = *md;

    CK_TRY(api.dnnl_primitive_create(&v->conv_prim, v->pd), "dnnl_primitive_create(convolution)");

    // Weights: reordered once into the chosen layout.
    if (first && api.dnnl_memory_desc_equal(&first->wei_md, &v->wei_md)) {
        v->wei_mem = first->wei_mem;
    } else {
        v->owns_wei = 1;
        CK_TRY(create_owned_memory(&v->wei_mem, &v->wei_md), "dnnl_memory_create(weights)");
        const dnnl_memory_desc_t *from_md = first ? &first->wei_md : &c->user_wei_md;
        dnnl_memory_t from = first ? first->wei_mem : NULL;
        if (!first) {
            CK_TRY(api.dnnl_memory_create(&user_wei, &c->user_wei_md, engine, (void *)user_weights),
                   "dnnl_memory_create(user weights)");
            from = user_wei;
        }
        if (!first && api.dnnl_memory_desc_equal(&c->user_wei_md, &v->wei_md)) {
            void *handle = NULL;
            CK_TRY(api.dnnl_memory_get_data_handle(v->wei_mem, &handle), "dnnl_memory_get_data_handle(weights)");
            memcpy(handle, user_weights, api.dnnl_memory_desc_get_size(&c->user_wei_md));
        } else {
            status = run_reorder_once(from, from_md, v->wei_mem, &v->wei_md, stream, err);
            if (status) goto fail;
        }
    }

    // Source: NCHW -> chosen layout, unless oneDNN reads NCHW.
    if (!api.dnnl_memory_desc_equal(&c->user_src_md, &v->src_md)) {
        if (first && first->src_mem && api.dnnl_memory_desc_equal(&first->src_md, &v->src_md)) {
            v->src_mem = first->src_mem;
        } else {
            v->owns_src = 1;
            CK_TRY(create_owned_memory(&v->src_mem, &v->src_md), "dnnl_memory_create(src)");
        }
        status = create_reorder(&v->src_reorder, &c->user_src_md, &v->src_md,
                                "dnnl_reorder_primitive_desc_create(src)", "dnnl_primitive_create(src reorder)", err);
        if (status) goto fail;
    }
    // Destination: chosen layout -> NCHW, unless oneDNN writes NCHW.
    if (!api.dnnl_memory_desc_equal(&c->user_dst_md, &v->dst_md)) {
        if (first && first->dst_mem && api.dnnl_memory_desc_equal(&first->dst_md, &v->dst_md)) {
            v->dst_mem = first->dst_mem;
        } else {
            v->owns_dst = 1;
            CK_TRY(create_owned_memory(&v->dst_mem, &v->dst_md), "dnnl_memory_create(dst)");
        }
        status = create_reorder(&v->dst_reorder, &v->dst_md, &c->user_dst_md,
                                "dnnl_reorder_primitive_desc_create(dst)", "dnnl_primitive_create(dst reorder)", err);
        if (status) goto fail;
    }
    if (user_wei) api.dnnl_memory_destroy(user_wei);
    *out = v;
    return 0;
fail:
    if (user_wei) api.dnnl_memory_destroy(user_wei);
    destroy_variant(v);
    return status;
}

static void append_variant(ck_dnnl_conv *c, ck_dnnl_variant *v) {
    ck_dnnl_variant **tail = &c->variants;
    while (*tail) tail = &(*tail)->next;
    *tail = v;
}

void ck_dnnl_conv_destroy(ck_dnnl_conv *c) {
    if (!c) return;
    // Later variants may borrow the first one's memories: destroy them first.
    ck_dnnl_variant *first = c->variants;
    ck_dnnl_variant *v = first ? first->next : NULL;
    while (v) {
        ck_dnnl_variant *next = v->next;
        destroy_variant(v);
        v = next;
    }
    destroy_variant(first);
    destroy_memory(&c->user_src);
    destroy_memory(&c->user_dst);
    destroy_memory(&c->bias);
    if (c->attr) api.dnnl_primitive_attr_destroy(c->attr);
    free(c);
}

int ck_dnnl_conv_create(const ck_dnnl_conv_params *p, const float *weights, const float *bias,
                        int threads, ck_dnnl_conv **out, ck_dnnl_error *err) {
    if (out) *out = NULL;
    if (!ck_dnnl_is_available()) {
        set_error(err, CK_DNNL_STATUS_UNAVAILABLE, "ck_dnnl_conv_create");
        return CK_DNNL_STATUS_UNAVAILABLE;
    }
    if (!p || !weights || !out || (p->has_bias && !bias) || threads < 1 || p->groups < 1) {
        set_error(err, CK_DNNL_STATUS_INVALID_ARGUMENT, "ck_dnnl_conv_create");
        return CK_DNNL_STATUS_INVALID_ARGUMENT;
    }
    int status = 0;
    dnnl_post_ops_t post_ops = NULL;
    thread_scope scope = threads_begin(threads);
    dnnl_stream_t stream = NULL;
    ck_dnnl_variant *v = NULL;
    ck_dnnl_conv *c = calloc(1, sizeof *c);
    if (!c) {
        set_error(err, CK_DNNL_STATUS_OUT_OF_MEMORY, "calloc(ck_dnnl_conv)");
        status = CK_DNNL_STATUS_OUT_OF_MEMORY;
        goto fail;
    }
    c->p = *p;
    status = get_stream(&stream, err);
    if (status) goto fail;

    const int64_t g = p->groups;
    dnnl_dims_t src_dims = {p->batch, p->channels, p->height, p->width};
    dnnl_dims_t dst_dims = {p->batch, p->filters, p->out_h, p->out_w};
    dnnl_dims_t bias_dims = {p->filters};
    dnnl_dims_t wei_dims = {p->filters, p->channels / g, p->kernel_h, p->kernel_w};
    dnnl_dims_t gwei_dims = {g, p->filters / g, p->channels / g, p->kernel_h, p->kernel_w};
    const int wei_ndims = g > 1 ? 5 : 4;
    const int64_t *wdims = g > 1 ? gwei_dims : wei_dims;
    dnnl_dims_t strides = {p->stride_h, p->stride_w};
    dnnl_dims_t dilates = {p->dilation_h - 1, p->dilation_w - 1};
    dnnl_dims_t pad_l = {p->pad_top, p->pad_left};
    dnnl_dims_t pad_r = {p->pad_bottom, p->pad_right};

    CK_TRY(api.dnnl_memory_desc_init_by_tag(&c->user_src_md, 4, src_dims, dnnl_f32, dnnl_nchw),
           "dnnl_memory_desc_init_by_tag(src nchw)");
    CK_TRY(api.dnnl_memory_desc_init_by_tag(&c->user_dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw),
           "dnnl_memory_desc_init_by_tag(dst nchw)");
    CK_TRY(api.dnnl_memory_desc_init_by_tag(&c->user_wei_md, wei_ndims, wdims, dnnl_f32,
                                            g > 1 ? dnnl_goihw : dnnl_oihw),
           g > 1 ? "dnnl_memory_desc_init_by_tag(weights goihw)" : "dnnl_memory_desc_init_by_tag(weights oihw)");
    dnnl_memory_desc_t any_src, any_wei, any_dst;
    CK_TRY(api.dnnl_memory_desc_init_by_tag(&any_src, 4, src_dims, dnnl_f32, dnnl_format_tag_any),
           "dnnl_memory_desc_init_by_tag(src any)");
    CK_TRY(api.dnnl_memory_desc_init_by_tag(&any_wei, wei_ndims, wdims, dnnl_f32, dnnl_format_tag_any),
           "dnnl_memory_desc_init_by_tag(weights any)");
    CK_TRY(api.dnnl_memory_desc_init_by_tag(&any_dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any),
           "dnnl_memory_desc_init_by_tag(dst any)");
    if (p->has_bias) {
        CK_TRY(api.dnnl_memory_desc_init_by_tag(&c->bias_md, 1, bias_dims, dnnl_f32, dnnl_x),
               "dnnl_memory_desc_init_by_tag(bias x)");
    }
    CK_TRY(api.dnnl_dilated_convolution_forward_desc_init(
               &c->desc, dnnl_forward_inference, dnnl_convolution_direct, &any_src, &any_wei,
               p->has_bias ? &c->bias_md : NULL, &any_dst, strides, dilates, pad_l, pad_r),
           "dnnl_dilated_convolution_forward_desc_init");

    CK_TRY(api.dnnl_primitive_attr_create(&c->attr), "dnnl_primitive_attr_create");
    if (p->activation != CK_DNNL_ACTIVATION_NONE) {
        CK_TRY(api.dnnl_post_ops_create(&post_ops), "dnnl_post_ops_create");
        if (p->activation == CK_DNNL_ACTIVATION_RELU) {
            CK_TRY(api.dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f),
                   "dnnl_post_ops_append_eltwise(relu)");
        } else {
            CK_TRY(api.dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_clip, p->activation_min,
                                                    p->activation_max),
                   "dnnl_post_ops_append_eltwise(clip)");
        }
        CK_TRY(api.dnnl_primitive_attr_set_post_ops(c->attr, post_ops), "dnnl_primitive_attr_set_post_ops");
    }

    CK_TRY(api.dnnl_memory_create(&c->user_src, &c->user_src_md, engine, DNNL_MEMORY_NONE),
           "dnnl_memory_create(user src)");
    CK_TRY(api.dnnl_memory_create(&c->user_dst, &c->user_dst_md, engine, DNNL_MEMORY_NONE),
           "dnnl_memory_create(user dst)");
    if (p->has_bias) {
        CK_TRY(api.dnnl_memory_create(&c->bias, &c->bias_md, engine, DNNL_MEMORY_ALLOCATE),
               "dnnl_memory_create(bias)");
        void *handle = NULL;
        CK_TRY(api.dnnl_memory_get_data_handle(c->bias, &handle), "dnnl_memory_get_data_handle(bias)");
        memcpy(handle, bias, (size_t)p->filters * sizeof(float));
    }

    status = create_variant(c, threads, weights, stream, &v, err);
    if (status) goto fail;
    append_variant(c, v);
    c->workspace_bytes = v->scratchpad_bytes
        + (v->owns_src ? api.dnnl_memory_desc_get_size(&v->src_md) : 0)
        + (v->owns_dst ? api.dnnl_memory_desc_get_size(&v->dst_md) : 0);
    if (post_ops) api.dnnl_post_ops_destroy(post_ops);
    threads_end(scope);
    *out = c;
    return 0;
fail:
    if (post_ops) api.dnnl_post_ops_destroy(post_ops);
    ck_dnnl_conv_destroy(c);
    threads_end(scope);
    return status;
}

int ck_dnnl_conv_variant(ck_dnnl_conv *c, int threads, ck_dnnl_variant **out, ck_dnnl_error *err) {
    if (out) *out = NULL;
    if (!c || !out || threads < 1) {
        set_error(err, CK_DNNL_STATUS_INVALID_ARGUMENT, "ck_dnnl_conv_variant");
        return CK_DNNL_STATUS_INVALID_ARGUMENT;
    }
    for (ck_dnnl_variant *v = c->variants; v; v = v->next) {
        if (v->threads == threads) {
            *out = v;
            return 0;
        }
    }
    dnnl_stream_t stream = NULL;
    int status = get_stream(&stream, err);
    if (status) return status;
    thread_scope scope = threads_begin(threads);
    ck_dnnl_variant *v = NULL;
    status = create_variant(c, threads, NULL, stream, &v, err);
    threads_end(scope);
    if (status) return status;
    append_variant(c, v);
    *out = v;
    return 0;
}

const char *ck_dnnl_conv_implementation(const ck_dnnl_conv *c) {
    return c && c->variants ? c->variants->impl : "";
}

size_t ck_dnnl_conv_workspace_bytes(const ck_dnnl_conv *c) { return c ? c->workspace_bytes : 0; }

// MARK: Execution

static int run_conv(ck_dnnl_variant *v, dnnl_memory_t src, dnnl_memory_t dst, dnnl_stream_t stream,
                    ck_dnnl_error *err) {
    int status = 0;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, v->wei_mem}, {DNNL_ARG_DST, dst}};
    int nargs = 3;
    if (v->conv->bias) {
        args[3].arg = DNNL_ARG_BIAS;
        args[3].memory = v->conv->bias;
        nargs = 4;
    }
    CK_TRY(api.dnnl_primitive_execute(v->conv_prim, stream, nargs, args),
           "dnnl_primitive_execute(convolution)");
fail:
    return status;
}

int ck_dnnl_variant_execute(ck_dnnl_variant *v, const float *src, float *dst, ck_dnnl_error *err) {
    if (!v || !src || !dst) {
        set_error(err, CK_DNNL_STATUS_INVALID_ARGUMENT, "ck_dnnl_variant_execute");
        return CK_DNNL_STATUS_INVALID_ARGUMENT;
    }
    ck_dnnl_conv *c = v->conv;
    dnnl_stream_t stream = NULL;
    int status = get_stream(&stream, err);
    if (status) return status;
    thread_scope scope = threads_begin(v->threads);
    CK_TRY(api.dnnl_memory_set_data_handle(c->user_src, (void *)src), "dnnl_memory_set_data_handle(src)");
    CK_TRY(api.dnnl_memory_set_data_handle(c->user_dst, dst), "dnnl_memory_set_data_handle(dst)");
    if (v->src_reorder) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, c->user_src}, {DNNL_ARG_TO, v->src_mem}};
        CK_TRY(api.dnnl_primitive_execute(v->src_reorder, stream, 2, args),
               "dnnl_primitive_execute(src reorder)");
    }
    status = run_conv(v, v->src_reorder ? v->src_mem : c->user_src, v->dst_reorder ? v->dst_mem : c->user_dst,
                      stream, err);
    if (status) goto fail;
    if (v->dst_reorder) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, v->dst_mem}, {DNNL_ARG_TO, c->user_dst}};
        CK_TRY(api.dnnl_primitive_execute(v->dst_reorder, stream, 2, args),
               "dnnl_primitive_execute(dst reorder)");
    }
    CK_TRY(api.dnnl_stream_wait(stream), "dnnl_stream_wait");
fail:
    threads_end(scope);
    return status;
}

int ck_dnnl_variant_execute_core(ck_dnnl_variant *v, ck_dnnl_error *err) {
    if (!v) {
        set_error(err, CK_DNNL_STATUS_INVALID_ARGUMENT, "ck_dnnl_variant_execute_core");
        return CK_DNNL_STATUS_INVALID_ARGUMENT;
    }
    dnnl_stream_t stream = NULL;
    int status = get_stream(&stream, err);
    if (status) return status;
    // The caller's buffers of the last execution may be gone: when oneDNN works on plain
    // NCHW, run on buffers of our own instead.
    if (!v->src_reorder && !v->core_src) {
        CK_TRY(create_owned_memory(&v->core_src, &v->src_md), "dnnl_memory_create(core-only src)");
    }
    if (!v->dst_reorder && !v->core_dst) {
        CK_TRY(create_owned_memory(&v->core_dst, &v->dst_md), "dnnl_memory_create(core-only dst)");
    }
    thread_scope scope = threads_begin(v->threads);
    status = run_conv(v, v->src_reorder ? v->src_mem : v->core_src, v->dst_reorder ? v->dst_mem : v->core_dst,
                      stream, err);
    if (status == 0) {
        dnnl_status_t st = api.dnnl_stream_wait(stream);
        if (st != dnnl_success) {
            set_error(err, (int)st, "dnnl_stream_wait");
            status = (int)st;
        }
    }
    threads_end(scope);
    return status;
fail:
    return status;
}

#endif
