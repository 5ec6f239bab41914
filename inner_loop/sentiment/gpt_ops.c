/* gpt_ops.c — the CPU GPT table and the choice between it and the CUDA plugin's.
 *
 * The CPU table points straight at gpt_kernels.c: a model trained through the table on the
 * CPU computes exactly what gpt.c's direct calls compute. */
#include "gpt_ops.h"

#include "gpt.h"
#include "gpt_kernels.h"

#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table's norm and AdamW are gpt_adamw's kernels (gpt_kernels.c): the same bits. */
static double cpu_grad_sumsq(const float *g, size_t N)
{
    return gptk_grad_sumsq(g, N);
}

static void cpu_adamw(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                      float beta1, float beta2, float eps, float weight_decay, float clip,
                      float bc1, float bc2)
{
    gptk_adamw_update(param, grad, m, v, N, lr, beta1, beta2, eps, weight_decay, clip, bc1, bc2);
}

static const dc_gpt_ops *cpu_table(void)
{
    static dc_gpt_ops ops;
    if (!ops.abi) {
        ops = (dc_gpt_ops){
            .abi = DC_GPT_ABI,
            .base = dc_backend_cpu(),
            .encoder_forward = gptk_encoder_forward,
            .encoder_backward = gptk_encoder_backward,
            .layernorm_forward = gptk_layernorm_forward,
            .layernorm_backward = gptk_layernorm_backward,
            .matmul_forward = gptk_matmul_forward,
            .matmul_backward = gptk_matmul_backward,
            .attention_forward = gptk_attention_forward,
            .attention_backward = gptk_attention_backward,
            .gelu_forward = gptk_gelu_forward,
            .gelu_backward = gptk_gelu_backward,
            .residual_forward = gptk_residual_forward,
            .residual_backward = gptk_residual_backward,
            .softmax_logp_forward = gptk_softmax_logp_forward,
            .softmax_logp_backward = gptk_softmax_logp_backward,
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

/* AdamW through ops on fixed inputs (gradients far from 0) against cpu_adamw. */
static int verify_adamw(const dc_gpt_ops *ops, char *err, size_t errcap)
{
    enum { N = 333 };
    float p[N], g[N], m[N], v[N], p2[N], m2[N], v2[N];
    for (int i = 0; i < N; i++) {
        p[i] = (float)(0.1 * sin(0.3 * i));
        g[i] = (float)((i % 2 ? 1 : -1) * (0.01 + 0.05 * fabs(cos(0.9 * i))));
        m[i] = (float)(0.001 * sin(1.1 * i));
        v[i] = (float)(1e-5 * (1.5 + sin(0.4 * i)));
    }
    const dc_backend_ops *be = ops->base;
    size_t bytes = sizeof p;
    float *dp = be->alloc(bytes), *dg = be->alloc(bytes), *dm = be->alloc(bytes),
          *dv = be->alloc(bytes);
    int rc = -1;
    if (dp && dg && dm && dv) {
        be->upload(dp, p, bytes);
        be->upload(dg, g, bytes);
        be->upload(dm, m, bytes);
        be->upload(dv, v, bytes);
        float bc1 = 1.0f - powf(0.9f, 3.0f), bc2 = 1.0f - powf(0.999f, 3.0f);
        ops->adamw(dp, dg, dm, dv, N, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.8f, bc1, bc2);
        if (be->download(p2, dp, bytes) == 0 && be->download(m2, dm, bytes) == 0 &&
            be->download(v2, dv, bytes) == 0) {
            cpu_adamw(p, g, m, v, N, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.8f, bc1, bc2);
            double d = fmax(dc_scaled_diff(p2, p, N),
                            fmax(dc_scaled_diff(m2, m, N), dc_scaled_diff(v2, v, N)));
            if (d <= 1e-5)
                rc = 0;
            else
                snprintf(err, errcap, "self-check: AdamW differs from the CPU's by %.3g", d);
        } else if (!be->error(err, errcap)) {
            snprintf(err, errcap, "self-check: AdamW download failed");
        }
    } else {
        snprintf(err, errcap, "self-check: out of backend memory");
    }
    be->free(dp);
    be->free(dg);
    be->free(dm);
    be->free(dv);
    return rc;
}

int gpt_ops_verify(const dc_gpt_ops *ops, char *err, size_t errcap)
{
    const gpt_config cfg = {.vocab = 37, .ctx = 12, .layers = 1, .width = 24, .heads = 2};
    enum { B = 2, T = 9 };
    int in[B * T], tg[B * T];
    float lp_ref[B * T], lp[B * T], dlogp[B * T];
    for (int i = 0; i < B * T; i++) {
        in[i] = (i * 7 + 3) % cfg.vocab;
        tg[i] = i % T == 0 ? -1 : (i * 11 + 5) % cfg.vocab; // some positions not scored
        dlogp[i] = tg[i] < 0 ? 0.0f : (float)(0.3 * sin(1.7 * i) - 0.05);
    }
    gpt_model ref, dev;
    memset(&dev, 0, sizeof dev);
    if (gpt_init(&ref, &cfg, 5) != 0) {
        snprintf(err, errcap, "self-check: out of memory");
        return -1;
    }
    int rc = -1;
    float *g_ref = malloc(ref.nparams * sizeof(float)), *g = malloc(ref.nparams * sizeof(float));
    char why[512] = "";
    if (!g_ref || !g || gpt_clone(&dev, &ref) != 0) {
        snprintf(err, errcap, "self-check: out of memory");
        goto out;
    }
    if (gpt_attach(&dev, ops, why, sizeof why) != 0) {
        snprintf(err, errcap, "self-check: %s", why);
        goto out;
    }
    if (gpt_forward(&ref, in, tg, B, T, lp_ref) != 0 || gpt_zero_grad(&ref) != 0 ||
        gpt_backward(&ref, dlogp) != 0 || gpt_copy_grads(&ref, g_ref) != 0) {
        snprintf(err, errcap, "self-check: the CPU reference failed");
        goto out;
    }
    if (gpt_forward(&dev, in, tg, B, T, lp) != 0 || gpt_zero_grad(&dev) != 0 ||
        gpt_backward(&dev, dlogp) != 0 || gpt_copy_grads(&dev, g) != 0) {
        if (!gpt_device_error(&dev, why, sizeof why)) snprintf(why, sizeof why, "a step failed");
        snprintf(err, errcap, "self-check: %s", why);
        goto out;
    }
    double dl = dc_scaled_diff(lp, lp_ref, B * T), dg = dc_scaled_diff(g, g_ref, ref.nparams);
    if (!(dl <= 2e-5)) {
        snprintf(err, errcap, "self-check: the forward log-probs differ from the CPU's by %.3g",
                 dl);
        goto out;
    }
    if (!(dg <= 1e-4)) {
        snprintf(err, errcap, "self-check: the gradients differ from the CPU's by %.3g", dg);
        goto out;
    }
    rc = verify_adamw(ops, err, errcap);
out:
    gpt_free(&dev);
    gpt_free(&ref);
    free(g_ref);
    free(g);
    return rc;
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
    // checked once per process against the CPU before any training uses it
    static int verified; /* 0 not yet, 1 passed, -1 failed (why in verify_why) */
    static char verify_why[600];
    if (g && !verified) {
        char v[512];
        verified = gpt_ops_verify(g, v, sizeof v) == 0 ? 1 : -1;
        if (verified < 0) {
            dc_fmt(verify_why, sizeof verify_why,
                   "the CUDA GPT operations disagree with the CPU reference: %s; use --device "
                   "cpu, and please report this with the output of bench/cuda/run.sh",
                   v);
            if (!strcmp(device, "auto"))
                fprintf(stderr, "discover: warning: %s; using the CPU\n", verify_why);
        }
    }
    if (g && verified < 0) {
        g = NULL;
        dc_fmt(why, sizeof why, "%s", verify_why);
    }
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
