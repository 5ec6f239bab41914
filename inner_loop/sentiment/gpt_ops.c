/* gpt_ops.c — the CPU GPT table and the choice between it and the CUDA plugin's.
 *
 * The CPU table points straight at gpt_kernels.c: a model trained through the table on the
 * CPU computes exactly what gpt.c's direct calls compute. */
#include "gpt_ops.h"

#include "gpt_kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static double cpu_grad_sumsq(const float *g, size_t N)
{
    // the same order and precision as gpt_adamw's norm
    double s = 0.0;
    for (size_t i = 0; i < N; i++)
        s += (double)g[i] * g[i];
    return s;
}

static void cpu_adamw(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                      float beta1, float beta2, float eps, float weight_decay, float clip,
                      float bc1, float bc2)
{
    // gpt_adamw's update, expression for expression
    for (size_t j = 0; j < N; j++) {
        float gr = grad[j] * clip;
        float mm = beta1 * m[j] + (1.0f - beta1) * gr;
        float vv = beta2 * v[j] + (1.0f - beta2) * gr * gr;
        m[j] = mm;
        v[j] = vv;
        float upd = (mm / bc1) / (sqrtf(vv / bc2) + eps);
        if (weight_decay != 0.0f) upd += weight_decay * param[j];
        param[j] -= lr * upd;
    }
}

static const dc_gpt_ops *cpu_table(void)
{
    static dc_gpt_ops ops;
    if (!ops.abi) {
        ops = (dc_gpt_ops){
            .abi = DC_GPT_ABI,
            .base = dc_backend_cpu(),
            .encoder_forward = encoder_forward,
            .encoder_backward = encoder_backward,
            .layernorm_forward = layernorm_forward,
            .layernorm_backward = layernorm_backward,
            .matmul_forward = matmul_forward,
            .matmul_backward = matmul_backward,
            .attention_forward = attention_forward,
            .attention_backward = attention_backward,
            .gelu_forward = gelu_forward,
            .gelu_backward = gelu_backward,
            .residual_forward = residual_forward,
            .residual_backward = residual_backward,
            .softmax_logp_forward = softmax_logp_forward,
            .softmax_logp_backward = softmax_logp_backward,
            .grad_sumsq = cpu_grad_sumsq,
            .adamw = cpu_adamw,
        };
    }
    return &ops;
}

const dc_gpt_ops *gpt_ops_cpu(void)
{
    return cpu_table();
}

/* The plugin's GPT table once dc_backend_select chose CUDA: NULL with the reason. */
static const dc_gpt_ops *cuda_table(char *err, size_t errcap)
{
    dc_cuda_gpt_open_fn open_fn;
    *(void **)&open_fn = dc_backend_cuda_symbol(DC_CUDA_GPT_SYMBOL);
    if (!open_fn) {
        snprintf(err, errcap,
                 "the CUDA plugin has no GPT operations (" DC_CUDA_GPT_SYMBOL
                 "): rebuild it with this program");
        return NULL;
    }
    char why[512] = "";
    const dc_gpt_ops *ops = open_fn(DC_GPT_ABI, why, sizeof why);
    if (!ops) {
        snprintf(err, errcap, "CUDA GPT operations: %s", why[0] ? why : "initialisation failed");
        return NULL;
    }
    if (ops->abi != DC_GPT_ABI) {
        snprintf(err, errcap,
                 "the CUDA plugin implements GPT interface %d, this program needs "
                 "%d; rebuild the plugin with the program",
                 ops->abi, DC_GPT_ABI);
        return NULL;
    }
    return ops;
}

int gpt_ops_select(const char *device, const dc_gpt_ops **ops, char *err, size_t errcap)
{
    const dc_backend_ops *be = NULL;
    if (dc_backend_select(device, &be, err, errcap) != 0) return -1;
    if (strcmp(be->kind, "cuda") != 0) {
        *ops = cpu_table();
        return 0;
    }
    char why[640];
    const dc_gpt_ops *g = cuda_table(why, sizeof why);
    if (g) {
        *ops = g;
        return 0;
    }
    if (!strcmp(device, "auto")) { // as dc_backend_select: auto falls back silently
        *ops = cpu_table();
        return 0;
    }
    snprintf(err, errcap, "%s", why);
    return -1;
}
