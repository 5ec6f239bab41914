/* backend_cuda.c — the CUDA backend table (backend.h) exported by libdiscover_cuda.so.
 *
 * One device (the first one CUDA lists: pick it with CUDA_VISIBLE_DEVICES), one
 * non-blocking stream for everything, one cuBLAS handle on it. The linear layers are cuBLAS
 * sgemm calls in pure fp32 (CUBLAS_DEFAULT_MATH: no TF32), the rest kernels.cu.
 *
 * cuBLAS is column-major and our arrays are row-major. A row-major (R,C) array IS the
 * column-major (C,R) array of its transpose, so every row-major product Y = A·B is computed
 * as the column-major product Yᵀ = Bᵀ·Aᵀ with the operands swapped and no data moved.
 *
 * Every CUDA and cuBLAS return code is checked; the first failure is recorded (sticky, see
 * backend.h) and turns the later operations into no-ops, so a trainer finds out at its next
 * download and reports the message. Nothing here aborts or prints. */
#include "inner_loop/backend.h"
#include "kernels.h"
#include "cuda_state.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static struct {
    int ready;
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    int *scratch; /* one device int: argmax counts, the non-finite flag */
    char name[320];
    int failed;
    char message[512];
} g;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
    if (g.failed) return; // keep the first: later failures are usually its consequences
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g.message, sizeof g.message, fmt, ap);
    va_end(ap);
    g.failed = 1;
}

static int cu_ok(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return 1;
    record("%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return 0;
}

static int blas_ok(cublasStatus_t st, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS) return 1;
    record("%s: cuBLAS %s (%s)", what, cublasGetStatusString(st), cublasGetStatusName(st));
    return 0;
}

/* ---- identity, errors ---- */

static const char *cuda_name(void)
{
    return g.name;
}

static void cuda_set_threads(int n)
{
    (void)n; // the GPU needs no host threads for the products
}

static int cuda_error(char *buf, size_t cap)
{
    if (!g.failed) return 0;
    if (buf && cap) snprintf(buf, cap, "%s", g.message);
    return 1;
}

static void cuda_clear_error(void)
{
    g.failed = 0;
    g.message[0] = 0;
    // drop a non-sticky runtime error (e.g. an allocation that failed) so the next launch
    // check does not see it; a broken context keeps failing and is reported again
    (void)cudaGetLastError();
}

/* ---- memory ---- */

static void *cuda_alloc(size_t bytes)
{
    if (g.failed) return NULL;
    void *p = NULL;
    // never 0 bytes: cudaMalloc(0) succeeds with a NULL pointer, which reads as failure
    size_t n = bytes ? bytes : 1;
    cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        (void)cudaGetLastError();
        if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
            record("cudaMalloc of %zu bytes: %s (GPU memory: %.0f MiB free of %.0f MiB)", bytes,
                   cudaGetErrorString(e), free_b / 1048576.0, total_b / 1048576.0);
        else
            record("cudaMalloc of %zu bytes: %s", bytes, cudaGetErrorString(e));
        (void)cudaGetLastError();
        return NULL;
    }
    if (!cu_ok(cudaMemsetAsync(p, 0, n, g.stream), "zeroing a new buffer")) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cuda_free(void *p)
{
    if (!p) return;
    // freeing is also how a failed run cleans up: report, but only if nothing failed before
    cu_ok(cudaFree(p), "cudaFree");
}

static void cuda_upload(void *dst, const void *host_src, size_t bytes)
{
    if (g.failed || !bytes) return;
    // synchronous for the host buffer: the caller may refill it as soon as this returns
    if (cu_ok(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, g.stream),
              "copying to the GPU"))
        cu_ok(cudaStreamSynchronize(g.stream), "copying to the GPU");
}

static int cuda_download(void *host_dst, const void *src, size_t bytes)
{
    if (g.failed) return -1;
    if (bytes && !cu_ok(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, g.stream),
                        "copying from the GPU"))
        return -1;
    // also where failures of the kernels queued before this surface
    return cu_ok(cudaStreamSynchronize(g.stream), "running the queued GPU work") ? 0 : -1;
}

static void cuda_memset0(void *p, size_t bytes)
{
    if (g.failed || !bytes) return;
    cu_ok(cudaMemsetAsync(p, 0, bytes, g.stream), "cudaMemsetAsync");
}

static int cuda_synchronize(void)
{
    if (g.failed) return -1;
    return cu_ok(cudaStreamSynchronize(g.stream), "running the queued GPU work") ? 0 : -1;
}

/* ---- operations ---- */

static void cuda_linear_forward(float *out, const float *inp, const float *weight,
                                const float *bias, int B, int C, int OC)
{
    if (g.failed) return;
    const float one = 1.0f, zero = 0.0f;
    // out (B,OC) = inp (B,C) @ weight^T  ⇔  outᵀ (OC,B) = weight (OC,C) · inpᵀ (C,B);
    // column-major views: weight is a (C,OC) matrix (ld C) used transposed, inp a (C,B)
    // matrix (ld C), out a (OC,B) matrix (ld OC)
    if (!blas_ok(cublasSgemm(g.blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, B, C, &one, weight, C, inp, C,
                             &zero, out, OC),
                 "linear forward (sgemm)"))
        return;
    if (bias) cu_ok(dc_cu_bias_add(out, bias, B, OC, g.stream), "linear forward (bias)");
}

static void cuda_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, int B, int C, int OC)
{
    if (g.failed) return;
    const float one = 1.0f, zero = 0.0f;
    // dinp (B,C) = dout (B,OC) @ weight (OC,C)  ⇔  dinpᵀ (C,B) = weightᵀ (C,OC) · doutᵀ (OC,B);
    // column-major views: weight (C,OC) ld C, dout (OC,B) ld OC, dinp (C,B) ld C
    if (dinp && !blas_ok(cublasSgemm(g.blas, CUBLAS_OP_N, CUBLAS_OP_N, C, B, OC, &one, weight, C,
                                     dout, OC, &zero, dinp, C),
                         "linear backward (input gradient sgemm)"))
        return;
    // dweight (OC,C) = doutᵀ (OC,B) @ inp (B,C)  ⇔  dweightᵀ (C,OC) = inpᵀ (C,B) · dout (B,OC);
    // column-major views: inp (C,B) ld C, dout (OC,B) ld OC used transposed, dweight (C,OC)
    if (!blas_ok(cublasSgemm(g.blas, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, B, &one, inp, C, dout, OC,
                             &zero, dweight, C),
                 "linear backward (weight gradient sgemm)"))
        return;
    if (dbias) cu_ok(dc_cu_bias_grad(dbias, dout, B, OC, g.stream), "linear backward (bias)");
}

static void cuda_relu_forward(float *out, const float *inp, size_t N)
{
    if (g.failed || !N) return;
    cu_ok(dc_cu_relu_forward(out, inp, N, g.stream), "relu forward");
}

static void cuda_relu_backward(float *dinp, const float *dout, const float *out, size_t N)
{
    if (g.failed || !N) return;
    cu_ok(dc_cu_relu_backward(dinp, dout, out, N, g.stream), "relu backward");
}

static void cuda_adam_update(float *param, const float *grad, float *m, float *v, size_t N,
                             float lr, float beta1, float beta2, float eps, float weight_decay,
                             int t)
{
    if (g.failed || !N) return;
    // bias corrections in double, exactly as the CPU reference computes them
    float c1 = (float)(1.0 - pow(beta1, t)), c2 = (float)(1.0 - pow(beta2, t));
    cu_ok(dc_cu_adam(param, grad, m, v, N, lr, beta1, beta2, eps, weight_decay, c1, c2, g.stream),
          "adam update");
}

/* Runs a counting kernel into the scratch int and brings the count back (waits). */
static int scratch_count(cudaError_t launched, const char *what)
{
    if (!cu_ok(launched, what)) return -1;
    int host = 0;
    if (cuda_download(&host, g.scratch, sizeof host)) return -1;
    return host;
}

static int cuda_argmax_correct(const float *logits, const int *labels, int B, int K)
{
    if (g.failed) return -1;
    if (!cu_ok(cudaMemsetAsync(g.scratch, 0, sizeof(int), g.stream), "argmax (zeroing)"))
        return -1;
    return scratch_count(dc_cu_argmax_correct(logits, labels, B, K, g.scratch, g.stream),
                         "argmax count");
}

static int cuda_all_finite(const float *x, size_t N)
{
    if (g.failed) return -1;
    if (!N) return 1;
    if (!cu_ok(cudaMemsetAsync(g.scratch, 0, sizeof(int), g.stream), "finite check (zeroing)"))
        return -1;
    int flag = scratch_count(dc_cu_flag_nonfinite(x, N, g.scratch, g.stream), "finite check");
    return flag < 0 ? -1 : !flag;
}

static const dc_backend_ops cuda_ops = {
    .abi = DC_BACKEND_ABI,
    .kind = "cuda",
    .name = cuda_name,
    .set_threads = cuda_set_threads,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .memset0 = cuda_memset0,
    .synchronize = cuda_synchronize,
    .error = cuda_error,
    .clear_error = cuda_clear_error,
    .linear_forward = cuda_linear_forward,
    .linear_backward = cuda_linear_backward,
    .relu_forward = cuda_relu_forward,
    .relu_backward = cuda_relu_backward,
    .adam_update = cuda_adam_update,
    .argmax_correct = cuda_argmax_correct,
    .all_finite = cuda_all_finite,
};

/* ---- shared with backend_cuda_gpt.c (cuda_state.h) ---- */

const dc_backend_ops *dc_cuda_ready_ops(void) { return g.ready ? &cuda_ops : NULL; }
cudaStream_t dc_cuda_stream(void) { return g.stream; }
cublasHandle_t dc_cuda_blas(void) { return g.blas; }
int dc_cuda_failed(void) { return g.failed; }
int dc_cuda_ok(cudaError_t e, const char *what) { return cu_ok(e, what); }
int dc_cuda_blas_ok(cublasStatus_t st, const char *what) { return blas_ok(st, what); }

/* ---- start-up ---- */

static void version_text(int v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%d.%d", v / 1000, (v % 1000) / 10);
}

/* Why there is no usable device, in words, from cudaGetDeviceCount's error. */
static void explain_no_device(cudaError_t e, char *err, size_t cap)
{
    int drv = 0;
    char dv[16], rv[16];
    (void)cudaDriverGetVersion(&drv);
    version_text(drv, dv, sizeof dv);
    version_text(CUDART_VERSION, rv, sizeof rv);
    if (e == cudaErrorInsufficientDriver && drv == 0)
        snprintf(err, cap, "no NVIDIA driver found (libcuda.so.1 cannot be loaded)");
    else if (e == cudaErrorInsufficientDriver)
        snprintf(err, cap,
                 "the NVIDIA driver supports CUDA up to %s but this plugin was built with CUDA "
                 "%s: update the driver, or rebuild discover with an older CUDA toolkit",
                 dv, rv);
    else if (e == cudaErrorNoDevice || e == cudaSuccess)
        snprintf(err, cap,
                 "no CUDA device found (driver CUDA %s); check nvidia-smi and "
                 "CUDA_VISIBLE_DEVICES",
                 dv);
    else
        snprintf(err, cap, "cannot query CUDA devices: %s (%s; driver CUDA %s, plugin CUDA %s)",
                 cudaGetErrorString(e), cudaGetErrorName(e), dv, rv);
}

static void shutdown_partial(void)
{
    if (g.blas) cublasDestroy(g.blas);
    if (g.stream) cudaStreamDestroy(g.stream);
    if (g.scratch) cudaFree(g.scratch);
    g.blas = NULL;
    g.stream = NULL;
    g.scratch = NULL;
    (void)cudaGetLastError();
}

EXPORT const dc_backend_ops *dc_cuda_backend_open(int abi, char *err, size_t errcap)
{
    if (abi != DC_BACKEND_ABI) {
        snprintf(err, errcap,
                 "the program speaks backend interface %d, this plugin %d: rebuild them together",
                 abi, DC_BACKEND_ABI);
        return NULL;
    }
    if (g.ready) return &cuda_ops;

    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        explain_no_device(e, err, errcap);
        (void)cudaGetLastError();
        return NULL;
    }
    g.device = 0;
    struct cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, g.device);
    if (e != cudaSuccess) {
        snprintf(err, errcap, "cannot read the properties of CUDA device 0: %s",
                 cudaGetErrorString(e));
        return NULL;
    }
    // the plugin carries sm_80 and sm_90 code plus compute_90 PTX: nothing older runs it
    if (prop.major < 8) {
        snprintf(err, errcap,
                 "CUDA device 0 (%s) has compute capability %d.%d; this plugin is built for "
                 "8.0 and newer (reconfigure with -DCMAKE_CUDA_ARCHITECTURES=%d%d)",
                 prop.name, prop.major, prop.minor, prop.major, prop.minor);
        return NULL;
    }
    const char *step = "selecting the device";
    e = cudaSetDevice(g.device);
    if (e == cudaSuccess) {
        step = "creating the CUDA context";
        e = cudaFree(NULL); // forces context creation: exclusive-mode or busy GPUs fail here
    }
    if (e == cudaSuccess) {
        step = "creating a stream";
        e = cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking);
    }
    if (e == cudaSuccess) {
        step = "allocating scratch memory";
        e = cudaMalloc((void **)&g.scratch, sizeof(int));
    }
    if (e != cudaSuccess) {
        snprintf(err, errcap, "CUDA device 0 (%s): %s: %s (%s)", prop.name, step,
                 cudaGetErrorString(e), cudaGetErrorName(e));
        shutdown_partial();
        return NULL;
    }
    cublasStatus_t st = cublasCreate(&g.blas);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetStream(g.blas, g.stream);
    // pure fp32 products (no TF32): the CPU parity tests and the fp32 contract rely on it
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetMathMode(g.blas, CUBLAS_DEFAULT_MATH);
    if (st != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errcap, "CUDA device 0 (%s): cuBLAS initialisation: %s", prop.name,
                 cublasGetStatusString(st));
        shutdown_partial();
        return NULL;
    }
    snprintf(g.name, sizeof g.name, "cuda:%s", prop.name);
    g.failed = 0;
    g.ready = 1;
    return &cuda_ops;
}
