/* backend_cuda_gpt.c — the GPT table (../backend_gpt.h) of the CUDA plugin: the sentiment
 * GPT's layers on the plugin's device, stream and cuBLAS handle (backend_cuda.c), with the
 * same sticky error.
 *
 * Matrix products: cuBLAS sgemm, pure fp32 (the handle's CUBLAS_DEFAULT_MATH: no TF32), the
 * row-major ↔ column-major mapping of backend_cuda.c (a row-major (R,C) array is the
 * column-major (C,R) array of its transpose, so Y = A·B is computed as Yᵀ = Bᵀ·Aᵀ). The
 * backward products use beta = 1: they accumulate, as gpt_kernels.c's do. The rest are the
 * kernels of gpt_kernels.cu. Nothing here aborts or prints: failures are recorded and
 * surface at the next download. */
#include "inner_loop/backend_gpt.h"
#include "cuda_state.h"
#include "gpt_kernels_cuda.h"
#include "kernels.h"

#include <stdio.h>

#define EXPORT __attribute__((visibility("default")))

/* Device scratch, grown on demand: attention's softmax gradient (B,NH,T,T) and the partial
 * sums of the gradient norm. Only ever used by work queued on the one stream, in order. */
static void *scratch;
static size_t scratch_bytes;

static void *scratch_for(size_t bytes, const char *what)
{
    if (bytes <= scratch_bytes) return scratch;
    if (scratch) {
        // kernels queued on the stream may still read it: wait for them explicitly rather
        // than rely on cudaFree's implicit synchronisation
        if (!dc_cuda_ok(cudaStreamSynchronize(dc_cuda_stream()), what)) return NULL;
        if (!dc_cuda_ok(cudaFree(scratch), what)) return NULL;
        scratch = NULL;
        scratch_bytes = 0;
    }
    if (!dc_cuda_ok(cudaMalloc(&scratch, bytes), what)) {
        scratch = NULL;
        return NULL;
    }
    scratch_bytes = bytes;
    return scratch;
}

#define LAUNCH(call, what)                                                                         \
    do {                                                                                           \
        if (dc_cuda_failed()) return;                                                              \
        dc_cuda_ok((call), what);                                                                  \
    } while (0)

static void g_encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B,
                              int T, int C)
{
    LAUNCH(dc_cu_encoder_forward(out, inp, wte, wpe, B, T, C, dc_cuda_stream()), "GPT embedding");
}

static void g_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B,
                               int T, int C)
{
    LAUNCH(dc_cu_encoder_backward(dwte, dwpe, dout, inp, B, T, C, dc_cuda_stream()),
           "GPT embedding backward");
}

static void g_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                const float *weight, const float *bias, int N, int C)
{
    LAUNCH(dc_cu_layernorm_forward(out, mean, rstd, inp, weight, bias, N, C, dc_cuda_stream()),
           "GPT layernorm");
}

static void g_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, const float *mean,
                                 const float *rstd, int N, int C)
{
    LAUNCH(dc_cu_layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C,
                                    dc_cuda_stream()),
           "GPT layernorm backward");
}

static void g_matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                             int N, int C, int OC)
{
    if (dc_cuda_failed()) return;
    const float one = 1.0f, zero = 0.0f;
    // out (N,OC) = inp (N,C) · weightᵀ  ⇔  outᵀ (OC,N) = weight (OC,C) · inpᵀ (C,N);
    // column-major: weight is (C,OC) ld C used transposed, inp (C,N) ld C, out (OC,N) ld OC
    if (!dc_cuda_blas_ok(cublasSgemm(dc_cuda_blas(), CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, &one,
                                     weight, C, inp, C, &zero, out, OC),
                         "GPT matmul (sgemm)"))
        return;
    if (bias) dc_cuda_ok(dc_cu_bias_add(out, bias, N, OC, dc_cuda_stream()), "GPT matmul (bias)");
}

static void g_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, int N, int C, int OC)
{
    if (dc_cuda_failed()) return;
    const float one = 1.0f;
    // dinp (N,C) += dout (N,OC) · weight (OC,C)  ⇔  dinpᵀ (C,N) += weightᵀ (C,OC) · doutᵀ (OC,N)
    if (!dc_cuda_blas_ok(cublasSgemm(dc_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one,
                                     weight, C, dout, OC, &one, dinp, C),
                         "GPT matmul backward (input gradient sgemm)"))
        return;
    // dweight (OC,C) += doutᵀ · inp  ⇔  dweightᵀ (C,OC) += inpᵀ (C,N) · dout (N,OC)
    if (!dc_cuda_blas_ok(cublasSgemm(dc_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp,
                                     C, dout, OC, &one, dweight, C),
                         "GPT matmul backward (weight gradient sgemm)"))
        return;
    if (dbias)
        dc_cuda_ok(dc_cu_bias_grad_acc(dbias, dout, N, OC, dc_cuda_stream()),
                   "GPT matmul backward (bias)");
}

static void g_attention_forward(float *out, float *att, const float *inp, int B, int T, int C,
                                int NH)
{
    LAUNCH(dc_cu_attention_forward(out, att, inp, B, T, C, NH, dc_cuda_stream()), "GPT attention");
}

static void g_attention_backward(float *dinp, const float *dout, const float *inp, const float *att,
                                 int B, int T, int C, int NH)
{
    if (dc_cuda_failed()) return;
    float *dpre = scratch_for((size_t)B * NH * T * T * sizeof(float), "GPT attention scratch");
    if (!dpre) return;
    dc_cuda_ok(dc_cu_attention_backward(dinp, dout, inp, att, dpre, B, T, C, NH, dc_cuda_stream()),
               "GPT attention backward");
}

static void g_gelu_forward(float *out, const float *inp, int N)
{
    LAUNCH(dc_cu_gelu_forward(out, inp, N, dc_cuda_stream()), "GPT GELU");
}

static void g_gelu_backward(float *dinp, const float *inp, const float *dout, int N)
{
    LAUNCH(dc_cu_gelu_backward(dinp, inp, dout, N, dc_cuda_stream()), "GPT GELU backward");
}

static void g_residual_forward(float *out, const float *a, const float *b, int N)
{
    LAUNCH(dc_cu_residual_forward(out, a, b, N, dc_cuda_stream()), "GPT residual");
}

static void g_residual_backward(float *da, float *db, const float *dout, int N)
{
    LAUNCH(dc_cu_residual_backward(da, db, dout, N, dc_cuda_stream()), "GPT residual backward");
}

static void g_softmax_logp_forward(float *probs, float *logp, const int *targets, int N, int V)
{
    LAUNCH(dc_cu_softmax_logp_forward(probs, logp, targets, N, V, dc_cuda_stream()),
           "GPT softmax / log-prob");
}

static void g_softmax_logp_backward(float *dlogits, const float *probs, const int *targets,
                                    const float *dlogp, int N, int V)
{
    LAUNCH(dc_cu_softmax_logp_backward(dlogits, probs, targets, dlogp, N, V, dc_cuda_stream()),
           "GPT softmax / log-prob backward");
}

static double g_grad_sumsq(const float *grad, size_t N)
{
    if (dc_cuda_failed()) return -1;
    double *partials =
        scratch_for((DC_CU_SUMSQ_BLOCKS + 1) * sizeof(double), "gradient norm scratch");
    if (!partials) return -1;
    if (!dc_cuda_ok(dc_cu_sumsq(grad, N, partials, dc_cuda_stream()), "gradient norm")) return -1;
    double total = 0;
    if (dc_cuda_ready_ops()->download(&total, partials, sizeof total) != 0) return -1;
    return total;
}

static void g_adamw(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                    float beta1, float beta2, float eps, float weight_decay, float clip, float bc1,
                    float bc2)
{
    LAUNCH(dc_cu_adamw_clip(param, grad, m, v, N, lr, beta1, beta2, eps, weight_decay, clip, bc1,
                            bc2, dc_cuda_stream()),
           "GPT AdamW");
}

static dc_gpt_ops gpt_ops = {
    .abi = DC_GPT_ABI,
    .base = NULL, /* set by dc_cuda_gpt_open */
    .encoder_forward = g_encoder_forward,
    .encoder_backward = g_encoder_backward,
    .layernorm_forward = g_layernorm_forward,
    .layernorm_backward = g_layernorm_backward,
    .matmul_forward = g_matmul_forward,
    .matmul_backward = g_matmul_backward,
    .attention_forward = g_attention_forward,
    .attention_backward = g_attention_backward,
    .gelu_forward = g_gelu_forward,
    .gelu_backward = g_gelu_backward,
    .residual_forward = g_residual_forward,
    .residual_backward = g_residual_backward,
    .softmax_logp_forward = g_softmax_logp_forward,
    .softmax_logp_backward = g_softmax_logp_backward,
    .grad_sumsq = g_grad_sumsq,
    .adamw = g_adamw,
};

EXPORT const dc_gpt_ops *dc_cuda_gpt_open(int abi, char *err, size_t errcap)
{
    if (abi != DC_GPT_ABI) {
        snprintf(err, errcap,
                 "the program speaks GPT interface %d, this plugin %d: rebuild them together", abi,
                 DC_GPT_ABI);
        return NULL;
    }
    const dc_backend_ops *base = dc_cuda_ready_ops();
    if (!base) {
        snprintf(err, errcap,
                 "the CUDA device is not initialised (call " DC_CUDA_PLUGIN_SYMBOL " first)");
        return NULL;
    }
    gpt_ops.base = base;
    return &gpt_ops;
}
