/* backend.h — the tensor operations the inner-loop trainers are built from, and the
 * backend table that lets one trainer run them on the CPU or on a CUDA GPU.
 *
 * llm.c style: plain functions on contiguous float arrays, shapes in the comments, no
 * tensor objects. Two layers:
 *   1. The CPU reference as plain functions (dc_linear_forward, ...): OpenBLAS sgemm for
 *      the matrix products, plain loops elsewhere (backend_cpu.c).
 *   2. dc_backend_ops: the same operations behind function pointers plus memory management
 *      (alloc/upload/download), so a trainer written against it runs unchanged on the CPU
 *      table (backend_cpu.c) or the CUDA table (inner_loop/cuda/, a run-time plugin that
 *      dc_backend_select loads with dlopen: the discover program never links CUDA).
 * Every operation is deterministic for given inputs, thread count and device.
 *
 * Layouts (row-major, PyTorch convention):
 *   activations (B,C): B rows (batch) of C features
 *   weight (OC,C): one row per output feature; bias (OC)
 * Backward functions OVERWRITE their gradient outputs (they never accumulate), so callers
 * need not zero them between steps. */
#ifndef DC_BACKEND_H
#define DC_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== 1. the CPU reference (host pointers) ==== */

/* Name of the CPU backend ("cpu-openblas"). */
const char *dc_backend_name(void);
/* Worker threads for the matrix products; n <= 0 means "all cores". Global state: set it
 * before training, not while another trainer runs in the same process. It also turns on
 * flush-to-zero and denormals-are-zero (x86 MXCSR) on the calling thread and on OpenBLAS's
 * worker threads, and leaves them on: subnormal floats are ~100x slower to compute with
 * and below fp32 training's resolution anyway. */
void dc_backend_set_threads(int n);
/* 0 when the environment has DISCOVER_FTZ=0, else 1. That switch exists for one benchmark
 * (bench/fashion/ftz_accuracy.sh: accuracy with FTZ/DAZ on vs off); with it,
 * dc_backend_set_threads leaves the floating-point mode as the process started (subnormals
 * computed, slowly). */
int dc_backend_ftz_wanted(void);
/* Flush-to-zero + denormals-are-zero on the calling thread: 0, or -1 where the CPU has no
 * such mode that this code knows (not x86). */
int dc_backend_fp_mode_set(void);
/* 1 when the calling thread flushes subnormals (checked by computing with them), else 0. */
int dc_backend_fp_mode_here(void);
/* 1 when this thread and every BLAS thread that a large product uses flush subnormals
 * (checked by products of subnormal-producing inputs), else 0. */
int dc_backend_fp_mode_blas(void);

/* out (B,OC) = inp (B,C) @ weight^T (C,OC) + bias (OC); bias may be NULL. */
void dc_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                       int C, int OC);
/* Given dout (B,OC) = dL/d out: dinp (B,C) = dout @ weight; dweight (OC,C) = dout^T @ inp;
 * dbias (OC) = Σ_b dout. dinp may be NULL (first layer: nothing needs it), as may dbias. */
void dc_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int B, int C, int OC);

/* out (N) = max(0, inp (N)); in place (out == inp) is allowed. */
void dc_relu_forward(float *out, const float *inp, size_t N);
/* dinp (N) = dout (N) where the forward OUTPUT out (N) > 0, else 0; dinp == dout allowed. */
void dc_relu_backward(float *dinp, const float *dout, const float *out, size_t N);

/* One Adam/AdamW step on N parameters, in place. m, v (N) are the moment buffers (zero at
 * t = 1); t is the 1-based step count used for bias correction. weight_decay is decoupled
 * (AdamW: param -= lr * wd * param); 0 gives plain Adam. */
void dc_adam_update(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                    float beta1, float beta2, float eps, float weight_decay, int t);

/* Number of rows b of logits (B,K) whose argmax (first maximum on ties) equals labels[b]. */
int dc_argmax_correct(const float *logits, const int *labels, int B, int K);

/* 1 when all N values are finite (no NaN/Inf). */
int dc_all_finite(const float *x, size_t N);

/* ==== 2. the backend table ==== */

/* Bumped whenever dc_backend_ops changes layout or meaning: a plugin built from another
 * version of this header is refused instead of being called through the wrong slots. */
#define DC_BACKEND_ABI 1

/* Errors are STICKY (the CUDA idiom): an operation that fails records the first message
 * and makes later operations no-ops until clear_error, so a trainer queues a whole step
 * and checks once, at the download that ends it. Pointers passed to the operations are
 * "backend memory" from alloc (device memory on CUDA); host pointers only where named.
 * Operations are queued in order on one stream; download and synchronize wait for them.
 * A table is process-wide state: one trainer at a time per process. */
typedef struct dc_backend_ops {
    int abi;                   /* DC_BACKEND_ABI of the code that filled the table */
    const char *kind;          /* "cpu" or "cuda" */
    const char *(*name)(void); /* "cpu-openblas", "cuda:NVIDIA H100 80GB HBM3" */
    void (*set_threads)(int n); /* CPU matrix-product threads (n <= 0: all); CUDA ignores it */

    /* -- memory -- */
    void *(*alloc)(size_t bytes); /* zero-filled; NULL on failure (error recorded) */
    void (*free)(void *p);        /* NULL is fine */
    /* host → backend; the host buffer may be reused as soon as it returns */
    void (*upload)(void *dst, const void *host_src, size_t bytes);
    /* backend → host after all queued work: 0, or -1 when any error is recorded */
    int (*download)(void *host_dst, const void *src, size_t bytes);
    void (*memset0)(void *p, size_t bytes);
    int (*synchronize)(void); /* waits for queued work: 0, or -1 when any error is recorded */

    /* -- errors -- */
    /* 1 and the first message since the last clear_error, or 0 when nothing failed */
    int (*error)(char *buf, size_t cap);
    void (*clear_error)(void);

    /* -- operations: the contracts of part 1, on backend memory -- */
    void (*linear_forward)(float *out, const float *inp, const float *weight, const float *bias,
                           int B, int C, int OC);
    void (*linear_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int B, int C, int OC);
    void (*relu_forward)(float *out, const float *inp, size_t N);
    void (*relu_backward)(float *dinp, const float *dout, const float *out, size_t N);
    void (*adam_update)(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                        float beta1, float beta2, float eps, float weight_decay, int t);
    /* labels (B) in backend memory; returns the count (waits), or -1 on error */
    int (*argmax_correct)(const float *logits, const int *labels, int B, int K);
    /* 1 all finite, 0 not (waits), -1 on error */
    int (*all_finite)(const float *x, size_t N);
} dc_backend_ops;

/* The CPU table (the functions of part 1; never fails except alloc). */
const dc_backend_ops *dc_backend_cpu(void);

/* Start-up self-check (backend_verify.c): one tiny layer forward, ReLU, backward and an Adam
 * step on cand and on ref, compared to fp32 accuracy. 0, or -1 with what differs. The
 * selection runs it on the CUDA table before handing it out. */
int dc_backend_verify(const dc_backend_ops *cand, const dc_backend_ops *ref, char *err,
                      size_t errcap);
/* Largest |a − b| over the largest |b| (over 1 when b is all zero); NaN counts as worst.
 * The measure of both self-checks. */
double dc_scaled_diff(const float *a, const float *b, size_t n);
/* For tests: the smallest |pre-activation| of the self-check's layer on ops (it must stay
 * clear of 0 so that no ReLU mask depends on rounding), or -1 on a backend error. */
double dc_backend_verify_margin(const dc_backend_ops *ops);

/* Picks a backend by device name:
 *   "cpu"  the CPU table;
 *   "cuda" the CUDA plugin, or -1 with the reason (plugin not built or not found, no NVIDIA
 *          driver (libcuda.so.1), the plugin cannot load, no device, driver too old ...);
 *   "auto" CUDA when the plugin loads and a device works, else the CPU table, silently
 *          (but for one warning on stderr when the CUDA table fails dc_backend_verify).
 * Returns 0 and sets *ops, or -1 with a message (also for an unknown name). The CUDA probe
 * runs once per process; its outcome is remembered. */
int dc_backend_select(const char *device, const dc_backend_ops **ops, char *err, size_t errcap);

/* The NVIDIA GPUs this process may use, without initialising CUDA: the entries of
 * CUDA_VISIBLE_DEVICES when it is set (indices or UUIDs, up to the first invalid one),
 * else 0..N-1 for the N GPUs the driver lists (/proc/driver/nvidia/gpus). Fills up to cap
 * ids; returns how many (0: none, or no NVIDIA driver). */
int dc_visible_gpus(char ids[][64], int cap);

/* The plugin: a shared library exporting one C function that initialises the first CUDA
 * device and returns its table, or NULL with the reason. abi is the caller's DC_BACKEND_ABI.
 * Found at $DISCOVER_CUDA_PLUGIN, else beside the program, else in
 * <program dir>/../<libdir>/discover/, else in the build tree. */
#define DC_CUDA_PLUGIN_FILE "libdiscover_cuda.so"
#define DC_CUDA_PLUGIN_SYMBOL "dc_cuda_backend_open"
typedef const dc_backend_ops *(*dc_cuda_backend_open_fn)(int abi, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif
