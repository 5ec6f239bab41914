/* gpt_device.c — the GPT's training step through a backend table (../backend_gpt.h): the
 * same layer sequence as gpt.c's gpt_forward / gpt_backward / gpt_adamw, on backend memory.
 *
 * Data path per step: token ids and targets go up (B*T ints each), the per-token log-probs
 * come down (B*T floats), d(objective)/d(logp) goes up, and after AdamW the parameters come
 * down into params_mem (so sampling, scoring on the host, cloning and caching never see
 * stale weights; for the default model that is 1 MB a step). The backend's errors are
 * sticky: a failed step makes the next forward fail with the backend's message
 * (gpt_device_error). */
#include "gpt_device.h"

#include "inner_loop/backend_gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gpt_device {
    const dc_gpt_ops *o;
    const dc_backend_ops *be;
    float *params, *grads, *mom, *vel; /* backend (nparams) each */
    gpt_params p, g;
    float *acts, *gacts; /* backend, capacity act_B x act_T */
    int act_B, act_T;
    size_t act_sizes[GPT_NUM_ACT_TENSORS];
    gpt_acts a, ga;
    int *inputs, *targets; /* backend (act_B*act_T) */
    float *logp, *dlogp;   /* backend (act_B*act_T) */
    int B, T;              /* shape of the last forward */
    char name[160];
};

/* 1 when the backend has recorded an error. */
static int failed(const struct gpt_device *d)
{
    return d->be->error(NULL, 0);
}

static void free_acts(struct gpt_device *d)
{
    const dc_backend_ops *be = d->be;
    be->free(d->acts);
    be->free(d->gacts);
    be->free(d->inputs);
    be->free(d->targets);
    be->free(d->logp);
    be->free(d->dlogp);
    d->acts = d->gacts = d->logp = d->dlogp = NULL;
    d->inputs = d->targets = NULL;
    d->act_B = d->act_T = 0;
}

void gpt_detach(gpt_model *m)
{
    struct gpt_device *d = m->dev;
    if (!d) return;
    free_acts(d);
    d->be->free(d->params);
    d->be->free(d->grads);
    d->be->free(d->mom);
    d->be->free(d->vel);
    free(d);
    m->dev = NULL;
}

int gpt_attach(gpt_model *m, const dc_gpt_ops *ops, char *err, size_t errcap)
{
    gpt_detach(m);
    struct gpt_device *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errcap, "out of memory attaching the model to a backend");
        return -1;
    }
    d->o = ops;
    d->be = ops->base;
    snprintf(d->name, sizeof d->name, "%s", d->be->name());
    d->be->clear_error();
    size_t bytes = m->nparams * sizeof(float);
    d->params = d->be->alloc(bytes);
    d->grads = d->be->alloc(bytes);
    d->mom = d->be->alloc(bytes); // zero-filled: a fresh optimizer
    d->vel = d->be->alloc(bytes);
    if (d->params) d->be->upload(d->params, m->params_mem, bytes);
    if (!d->params || !d->grads || !d->mom || !d->vel || d->be->synchronize() != 0) {
        char why[512] = "allocation failed";
        d->be->error(why, sizeof why);
        snprintf(err, errcap, "%s: cannot hold the model (%zu parameters): %s", d->name, m->nparams,
                 why);
        m->dev = d;
        gpt_detach(m);
        d = NULL;
        return -1;
    }
    gpt_point_params(&d->p, d->params, m->param_sizes);
    gpt_point_params(&d->g, d->grads, m->param_sizes);
    m->adam_t = 0;
    m->dev = d;
    return 0;
}

const char *gpt_backend_name(const gpt_model *m)
{
    return m->dev ? m->dev->name : "cpu";
}

int gpt_device_error(const gpt_model *m, char *buf, size_t cap)
{
    return m->dev ? m->dev->be->error(buf, cap) : 0;
}

/* Activation buffers for (B, T), grown like gpt.c's ensure_acts. */
static int ensure_acts(gpt_model *m, struct gpt_device *d, int B, int T)
{
    if (!d->acts || B > d->act_B || T > d->act_T) {
        int nb = B > d->act_B ? B : d->act_B, nt = T > d->act_T ? T : d->act_T;
        free_acts(d);
        size_t s[GPT_NUM_ACT_TENSORS];
        gpt_act_sizes(&m->cfg, nb, nt, s);
        size_t n = gpt_sum_sizes(s, GPT_NUM_ACT_TENSORS), bt = (size_t)nb * nt;
        d->acts = d->be->alloc(n * sizeof(float));
        d->gacts = d->be->alloc(n * sizeof(float));
        d->inputs = d->be->alloc(bt * sizeof(int));
        d->targets = d->be->alloc(bt * sizeof(int));
        d->logp = d->be->alloc(bt * sizeof(float));
        d->dlogp = d->be->alloc(bt * sizeof(float));
        if (!d->acts || !d->gacts || !d->inputs || !d->targets || !d->logp || !d->dlogp) {
            free_acts(d);
            return -1;
        }
        d->act_B = nb;
        d->act_T = nt;
    }
    gpt_act_sizes(&m->cfg, B, T, d->act_sizes);
    gpt_point_acts(&d->a, d->acts, d->act_sizes);
    gpt_point_acts(&d->ga, d->gacts, d->act_sizes);
    return 0;
}

int gpt_dev_forward(gpt_model *m, const int *inputs, const int *targets, int B, int T, float *logp)
{
    struct gpt_device *d = m->dev;
    const dc_gpt_ops *o = d->o;
    if (failed(d) || ensure_acts(m, d, B, T) != 0) return -1;
    const gpt_config *c = &m->cfg;
    int L = c->layers, C = c->width, NH = c->heads, V = c->vocab;
    int BT = B * T;
    d->be->upload(d->inputs, inputs, (size_t)BT * sizeof(int));
    d->be->upload(d->targets, targets, (size_t)BT * sizeof(int));
    d->B = B;
    d->T = T;
    m->last_B = B;
    m->last_T = T;
    gpt_params p = d->p;
    gpt_acts a = d->a;

    o->encoder_forward(a.encoded, d->inputs, p.wte, p.wpe, B, T, C); // (B,T,C)
    for (int l = 0; l < L; l++) {
        const float *residual = l == 0 ? a.encoded : a.residual3 + (size_t)(l - 1) * BT * C;
        size_t o1 = (size_t)l * BT * C, o3 = o1 * 3, o4 = o1 * 4, ob = (size_t)l * BT;
        size_t oatt = (size_t)l * B * NH * T * T;
        o->layernorm_forward(a.ln1 + o1, a.ln1_mean + ob, a.ln1_rstd + ob, residual, p.ln1w + l * C,
                             p.ln1b + l * C, BT, C);
        o->matmul_forward(a.qkv + o3, a.ln1 + o1, p.qkvw + (size_t)l * 3 * C * C,
                          p.qkvb + l * 3 * C, BT, C, 3 * C); // (B,T,3C)
        o->attention_forward(a.atty + o1, a.att + oatt, a.qkv + o3, B, T, C, NH);
        o->matmul_forward(a.attproj + o1, a.atty + o1, p.attprojw + (size_t)l * C * C,
                          p.attprojb + l * C, BT, C, C);
        o->residual_forward(a.residual2 + o1, residual, a.attproj + o1, BT * C);
        o->layernorm_forward(a.ln2 + o1, a.ln2_mean + ob, a.ln2_rstd + ob, a.residual2 + o1,
                             p.ln2w + l * C, p.ln2b + l * C, BT, C);
        o->matmul_forward(a.fch + o4, a.ln2 + o1, p.fcw + (size_t)l * 4 * C * C, p.fcb + l * 4 * C,
                          BT, C, 4 * C); // (B,T,4C)
        o->gelu_forward(a.fch_gelu + o4, a.fch + o4, BT * 4 * C);
        o->matmul_forward(a.fcproj + o1, a.fch_gelu + o4, p.fcprojw + (size_t)l * C * 4 * C,
                          p.fcprojb + l * C, BT, 4 * C, C);
        o->residual_forward(a.residual3 + o1, a.residual2 + o1, a.fcproj + o1, BT * C);
    }
    const float *last = a.residual3 + (size_t)(L - 1) * BT * C; // (B,T,C)
    o->layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, BT, C);
    o->matmul_forward(a.logits, a.lnf, p.wte, NULL, BT, C, V); // (B,T,V), tied embedding
    o->softmax_logp_forward(a.logits, d->logp, d->targets, BT, V);
    return d->be->download(logp, d->logp, (size_t)BT * sizeof(float)) == 0 ? 0 : -1;
}

int gpt_dev_zero_grad(gpt_model *m)
{
    struct gpt_device *d = m->dev;
    if (failed(d)) return -1;
    d->be->memset0(d->grads, m->nparams * sizeof(float));
    return 0;
}

int gpt_dev_backward(gpt_model *m, const float *dlogp)
{
    struct gpt_device *d = m->dev;
    const dc_gpt_ops *o = d->o;
    if (failed(d) || !d->acts) return -1;
    const gpt_config *c = &m->cfg;
    int B = d->B, T = d->T;
    int L = c->layers, C = c->width, NH = c->heads, V = c->vocab;
    int BT = B * T;
    d->be->upload(d->dlogp, dlogp, (size_t)BT * sizeof(float));
    d->be->memset0(d->gacts, gpt_sum_sizes(d->act_sizes, GPT_NUM_ACT_TENSORS) * sizeof(float));
    gpt_params p = d->p, g = d->g;
    gpt_acts a = d->a, ga = d->ga;

    o->softmax_logp_backward(ga.logits, a.logits, d->targets, d->dlogp, BT, V);
    o->matmul_backward(ga.lnf, g.wte, NULL, ga.logits, a.lnf, p.wte, BT, C, V);
    float *last = a.residual3 + (size_t)(L - 1) * BT * C;
    float *dlast = ga.residual3 + (size_t)(L - 1) * BT * C;
    o->layernorm_backward(dlast, g.lnfw, g.lnfb, ga.lnf, last, p.lnfw, a.lnf_mean, a.lnf_rstd, BT,
                          C);
    for (int l = L - 1; l >= 0; l--) {
        const float *residual = l == 0 ? a.encoded : a.residual3 + (size_t)(l - 1) * BT * C;
        float *dresidual = l == 0 ? ga.encoded : ga.residual3 + (size_t)(l - 1) * BT * C;
        size_t o1 = (size_t)l * BT * C, o3 = o1 * 3, o4 = o1 * 4, ob = (size_t)l * BT;
        size_t oatt = (size_t)l * B * NH * T * T;
        // MLP
        o->residual_backward(ga.residual2 + o1, ga.fcproj + o1, ga.residual3 + o1, BT * C);
        o->matmul_backward(ga.fch_gelu + o4, g.fcprojw + (size_t)l * C * 4 * C, g.fcprojb + l * C,
                           ga.fcproj + o1, a.fch_gelu + o4, p.fcprojw + (size_t)l * C * 4 * C, BT,
                           4 * C, C);
        o->gelu_backward(ga.fch + o4, a.fch + o4, ga.fch_gelu + o4, BT * 4 * C);
        o->matmul_backward(ga.ln2 + o1, g.fcw + (size_t)l * 4 * C * C, g.fcb + l * 4 * C,
                           ga.fch + o4, a.ln2 + o1, p.fcw + (size_t)l * 4 * C * C, BT, C, 4 * C);
        o->layernorm_backward(ga.residual2 + o1, g.ln2w + l * C, g.ln2b + l * C, ga.ln2 + o1,
                              a.residual2 + o1, p.ln2w + l * C, a.ln2_mean + ob, a.ln2_rstd + ob,
                              BT, C);
        // attention
        o->residual_backward(dresidual, ga.attproj + o1, ga.residual2 + o1, BT * C);
        o->matmul_backward(ga.atty + o1, g.attprojw + (size_t)l * C * C, g.attprojb + l * C,
                           ga.attproj + o1, a.atty + o1, p.attprojw + (size_t)l * C * C, BT, C, C);
        o->attention_backward(ga.qkv + o3, ga.atty + o1, a.qkv + o3, a.att + oatt, B, T, C, NH);
        o->matmul_backward(ga.ln1 + o1, g.qkvw + (size_t)l * 3 * C * C, g.qkvb + l * 3 * C,
                           ga.qkv + o3, a.ln1 + o1, p.qkvw + (size_t)l * 3 * C * C, BT, C, 3 * C);
        o->layernorm_backward(dresidual, g.ln1w + l * C, g.ln1b + l * C, ga.ln1 + o1, residual,
                              p.ln1w + l * C, a.ln1_mean + ob, a.ln1_rstd + ob, BT, C);
    }
    o->encoder_backward(g.wte, g.wpe, ga.encoded, d->inputs, B, T, C);
    return failed(d) ? -1 : 0;
}

float gpt_dev_adamw(gpt_model *m, float lr, float beta1, float beta2, float eps, float weight_decay,
                    float max_norm)
{
    struct gpt_device *d = m->dev;
    double norm2 = d->o->grad_sumsq(d->grads, m->nparams); // waits for the backward pass
    if (norm2 < 0) return NAN;
    // from here on gpt_adamw's host arithmetic, unchanged
    float norm = (float)sqrt(norm2);
    float clip = (max_norm > 0 && norm > max_norm) ? max_norm / norm : 1.0f;
    m->adam_t++;
    float bc1 = 1.0f - powf(beta1, (float)m->adam_t), bc2 = 1.0f - powf(beta2, (float)m->adam_t);
    size_t off = 0;
    for (int t = 0; t < GPT_NUM_PARAM_TENSORS; t++) {
        // decay matrices and embeddings only, as gpt_adamw
        int decay = (t == 0 || t == 1 || t == 4 || t == 6 || t == 10 || t == 12);
        size_t n = m->param_sizes[t];
        d->o->adamw(d->params + off, d->grads + off, d->mom + off, d->vel + off, n, lr, beta1,
                    beta2, eps, decay ? weight_decay : 0.0f, clip, bc1, bc2);
        off += n;
    }
    if (d->be->download(m->params_mem, d->params, m->nparams * sizeof(float)) != 0) return NAN;
    return norm;
}

int gpt_copy_grads(const gpt_model *m, float *dst)
{
    size_t bytes = m->nparams * sizeof(float);
    if (m->dev) return m->dev->be->download(dst, m->dev->grads, bytes) == 0 ? 0 : -1;
    if (!m->grads_mem) return -1;
    memcpy(dst, m->grads_mem, bytes);
    return 0;
}

int gpt_copy_probs(const gpt_model *m, float *dst)
{
    size_t n = (size_t)m->last_B * m->last_T * m->cfg.vocab * sizeof(float);
    if (m->dev) {
        if (!m->dev->acts) return -1;
        return m->dev->be->download(dst, m->dev->a.logits, n) == 0 ? 0 : -1;
    }
    if (!m->acts_mem) return -1;
    memcpy(dst, m->a.logits, n);
    return 0;
}
