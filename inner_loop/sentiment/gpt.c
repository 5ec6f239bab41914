/* gpt.c — parameters, forward/backward over a batch, AdamW and KV-cached sampling for the
 * transformer of gpt.h. */
#include "gpt.h"

#include "gpt_device.h"
#include "gpt_kernels.h"
#include "gpt_pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gpt_config_check(const gpt_config *c, char *err, size_t errcap)
{
    if (c->vocab < 2 || c->vocab > GPT_VOCAB_MAX) {
        snprintf(err, errcap, "vocabulary size %d is out of range: use 2..%d", c->vocab,
                 GPT_VOCAB_MAX);
        return -1;
    }
    if (c->ctx < 8 || c->ctx > 1024) {
        snprintf(err, errcap, "context %d is out of range: use 8..1024", c->ctx);
        return -1;
    }
    if (c->layers < 1 || c->layers > 48) {
        snprintf(err, errcap, "layers %d is out of range: use 1..48", c->layers);
        return -1;
    }
    if (c->width < 8 || c->width > 2048) {
        snprintf(err, errcap, "width %d is out of range: use 8..2048", c->width);
        return -1;
    }
    if (c->heads < 1 || c->width % c->heads != 0) {
        snprintf(err, errcap, "heads %d must be >= 1 and divide width %d", c->heads, c->width);
        return -1;
    }
    return 0;
}

static void param_sizes(const gpt_config *c, size_t *s)
{
    size_t V = (size_t)c->vocab, T = (size_t)c->ctx, L = (size_t)c->layers, C = (size_t)c->width;
    s[0] = V * C;         // wte
    s[1] = T * C;         // wpe
    s[2] = L * C;         // ln1w
    s[3] = L * C;         // ln1b
    s[4] = L * 3 * C * C; // qkvw
    s[5] = L * 3 * C;     // qkvb
    s[6] = L * C * C;     // attprojw
    s[7] = L * C;         // attprojb
    s[8] = L * C;         // ln2w
    s[9] = L * C;         // ln2b
    s[10] = L * 4 * C * C; // fcw
    s[11] = L * 4 * C;    // fcb
    s[12] = L * C * 4 * C; // fcprojw
    s[13] = L * C;        // fcprojb
    s[14] = C;            // lnfw
    s[15] = C;            // lnfb
}

void gpt_point_params(gpt_params *p, float *mem, const size_t *s)
{
    float **ptrs[GPT_NUM_PARAM_TENSORS] = {
        &p->wte, &p->wpe, &p->ln1w, &p->ln1b, &p->qkvw, &p->qkvb, &p->attprojw, &p->attprojb,
        &p->ln2w, &p->ln2b, &p->fcw, &p->fcb, &p->fcprojw, &p->fcprojb, &p->lnfw, &p->lnfb};
    for (int i = 0; i < GPT_NUM_PARAM_TENSORS; i++) {
        *ptrs[i] = mem;
        mem += s[i];
    }
}

static int alloc_params(gpt_model *m, const gpt_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    param_sizes(cfg, m->param_sizes);
    for (int i = 0; i < GPT_NUM_PARAM_TENSORS; i++) m->nparams += m->param_sizes[i];
    m->params_mem = malloc(m->nparams * sizeof(float));
    if (!m->params_mem) return -1;
    gpt_point_params(&m->p, m->params_mem, m->param_sizes);
    return 0;
}

int gpt_init(gpt_model *m, const gpt_config *cfg, uint64_t seed)
{
    if (alloc_params(m, cfg) != 0) return -1;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    size_t L = (size_t)cfg->layers, C = (size_t)cfg->width;
    float resid_std = 0.02f / sqrtf(2.0f * (float)cfg->layers);
    struct {
        float *p;
        size_t n;
        float std; /* 0: constant `fill` */
        float fill;
    } init[] = {
        {m->p.wte, m->param_sizes[0], 0.02f, 0},
        {m->p.wpe, m->param_sizes[1], 0.01f, 0},
        {m->p.ln1w, L * C, 0, 1.0f},
        {m->p.ln1b, L * C, 0, 0.0f},
        {m->p.qkvw, m->param_sizes[4], 0.02f, 0},
        {m->p.qkvb, m->param_sizes[5], 0, 0.0f},
        {m->p.attprojw, m->param_sizes[6], resid_std, 0},
        {m->p.attprojb, L * C, 0, 0.0f},
        {m->p.ln2w, L * C, 0, 1.0f},
        {m->p.ln2b, L * C, 0, 0.0f},
        {m->p.fcw, m->param_sizes[10], 0.02f, 0},
        {m->p.fcb, m->param_sizes[11], 0, 0.0f},
        {m->p.fcprojw, m->param_sizes[12], resid_std, 0},
        {m->p.fcprojb, L * C, 0, 0.0f},
        {m->p.lnfw, C, 0, 1.0f},
        {m->p.lnfb, C, 0, 0.0f},
    };
    for (size_t i = 0; i < sizeof init / sizeof init[0]; i++)
        for (size_t j = 0; j < init[i].n; j++)
            init[i].p[j] = init[i].std > 0 ? init[i].std * (float)dc_rng_normal(&rng) : init[i].fill;
    return 0;
}

int gpt_clone(gpt_model *dst, const gpt_model *src)
{
    if (alloc_params(dst, &src->cfg) != 0) return -1;
    memcpy(dst->params_mem, src->params_mem, src->nparams * sizeof(float));
    return 0;
}

int gpt_same_params(const gpt_model *a, const gpt_model *b)
{
    if (a == b) return 1;
    return memcmp(&a->cfg, &b->cfg, sizeof a->cfg) == 0 && a->nparams == b->nparams &&
           memcmp(a->params_mem, b->params_mem, a->nparams * sizeof(float)) == 0;
}

void gpt_free(gpt_model *m)
{
    gpt_detach(m);
    free(m->params_mem);
    free(m->grads_mem);
    free(m->m_mem);
    free(m->v_mem);
    free(m->acts_mem);
    free(m->gacts_mem);
    free(m->last_inputs);
    free(m->last_targets);
    free(m->scored_idx);
    free(m->scored_buf);
    free(m->shard_grads);
    memset(m, 0, sizeof *m);
}

void gpt_act_sizes(const gpt_config *c, int B, int T, size_t *s)
{
    size_t L = (size_t)c->layers, C = (size_t)c->width, NH = (size_t)c->heads, V = (size_t)c->vocab;
    size_t BT = (size_t)B * (size_t)T;
    s[0] = BT * C;               // encoded
    s[1] = L * BT * C;           // ln1
    s[2] = L * BT;               // ln1_mean
    s[3] = L * BT;               // ln1_rstd
    s[4] = L * BT * 3 * C;       // qkv
    s[5] = L * BT * C;           // atty
    s[6] = L * B * NH * T * T;   // att
    s[7] = L * BT * C;           // attproj
    s[8] = L * BT * C;           // residual2
    s[9] = L * BT * C;           // ln2
    s[10] = L * BT;              // ln2_mean
    s[11] = L * BT;              // ln2_rstd
    s[12] = L * BT * 4 * C;      // fch
    s[13] = L * BT * 4 * C;      // fch_gelu
    s[14] = L * BT * C;          // fcproj
    s[15] = L * BT * C;          // residual3
    s[16] = BT * C;              // lnf
    s[17] = BT;                  // lnf_mean
    s[18] = BT;                  // lnf_rstd
    s[19] = BT * V;              // logits / probs
}

void gpt_point_acts(gpt_acts *a, float *mem, const size_t *s)
{
    float **ptrs[GPT_NUM_ACT_TENSORS] = {
        &a->encoded, &a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->atty, &a->att,
        &a->attproj, &a->residual2, &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch, &a->fch_gelu,
        &a->fcproj, &a->residual3, &a->lnf, &a->lnf_mean, &a->lnf_rstd, &a->logits};
    for (int i = 0; i < GPT_NUM_ACT_TENSORS; i++) {
        *ptrs[i] = mem;
        mem += s[i];
    }
}

size_t gpt_sum_sizes(const size_t *s, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++) t += s[i];
    return t;
}

/* Activations are allocated for a capacity (act_B, act_T) and re-pointed at the exact
 * shape of each call: every tensor's size grows with B and T, so the exact layout always
 * fits in the capacity. */
static int ensure_acts(gpt_model *m, int B, int T)
{
    if (!m->acts_mem || B > m->act_B || T > m->act_T) {
        int nb = B > m->act_B ? B : m->act_B, nt = T > m->act_T ? T : m->act_T;
        free(m->acts_mem);
        free(m->gacts_mem);
        free(m->last_inputs);
        free(m->last_targets);
        free(m->scored_idx);
        free(m->scored_buf);
        m->gacts_mem = NULL;
        size_t s[GPT_NUM_ACT_TENSORS];
        gpt_act_sizes(&m->cfg, nb, nt, s);
        size_t n = gpt_sum_sizes(s, GPT_NUM_ACT_TENSORS), bt = (size_t)nb * nt;
        m->acts_mem = malloc(n * sizeof(float));
        m->last_inputs = malloc(bt * sizeof(int));
        m->last_targets = malloc(bt * sizeof(int));
        m->scored_idx = malloc(2 * bt * sizeof(int));
        m->scored_buf = malloc((2 * bt * (size_t)m->cfg.width + 2 * bt) * sizeof(float));
        if (!m->acts_mem || !m->last_inputs || !m->last_targets || !m->scored_idx ||
            !m->scored_buf) {
            free(m->acts_mem);
            free(m->last_inputs);
            free(m->last_targets);
            free(m->scored_idx);
            free(m->scored_buf);
            m->acts_mem = NULL;
            m->last_inputs = m->last_targets = m->scored_idx = NULL;
            m->scored_buf = NULL;
            m->act_B = m->act_T = 0;
            return -1;
        }
        m->act_B = nb;
        m->act_T = nt;
    }
    gpt_act_sizes(&m->cfg, B, T, m->act_sizes);
    gpt_point_acts(&m->a, m->acts_mem, m->act_sizes);
    return 0;
}

/* Rows b0 .. b1-1 of shard s of the batch of the last forward (m->last_B, last_T). */
static void shard_rows(const gpt_model *m, int s, int *b0, int *b1)
{
    long B = m->last_B, S = m->shards;
    *b0 = (int)(B * s / S);
    *b1 = (int)(B * (s + 1) / S);
}

/* The forward pass of shard s: every layer on its rows (the same kernels as a whole batch,
 * on the shard's slice of each activation tensor), then the output layer on all its
 * positions or (scored_only) on those with a target. */
static void forward_shard(gpt_model *m, int s, float *logp, int scored_only)
{
    const gpt_config *c = &m->cfg;
    int L = c->layers, C = c->width, NH = c->heads, V = c->vocab;
    int B = m->last_B, T = m->last_T, b0, b1;
    shard_rows(m, s, &b0, &b1);
    int Bs = b1 - b0, n = Bs * T;
    size_t BT = (size_t)B * T, r0 = (size_t)b0 * T; // r0: the shard's first position
    const int *inputs = m->last_inputs + r0, *targets = m->last_targets + r0;
    gpt_params p = m->p;
    gpt_acts a = m->a;
    logp += r0;

    float *encoded = a.encoded + r0 * C;
    gptk_encoder_forward(encoded, inputs, p.wte, p.wpe, Bs, T, C); // (Bs,T,C)
    for (int l = 0; l < L; l++) {
        size_t o1 = (size_t)l * BT * C + r0 * C, ob = (size_t)l * BT + r0;
        const float *residual = l == 0 ? encoded : a.residual3 + o1 - BT * C;
        float *ln1 = a.ln1 + o1, *ln1_mean = a.ln1_mean + ob, *ln1_rstd = a.ln1_rstd + ob;
        float *qkv = a.qkv + 3 * o1;                                      // (Bs,T,3C)
        float *atty = a.atty + o1;                                        // (Bs,T,C)
        float *att = a.att + ((size_t)l * B + b0) * NH * T * T;           // (Bs,NH,T,T)
        float *attproj = a.attproj + o1, *residual2 = a.residual2 + o1;
        float *ln2 = a.ln2 + o1, *ln2_mean = a.ln2_mean + ob, *ln2_rstd = a.ln2_rstd + ob;
        float *fch = a.fch + 4 * o1, *fch_gelu = a.fch_gelu + 4 * o1;     // (Bs,T,4C)
        float *fcproj = a.fcproj + o1, *residual3 = a.residual3 + o1;

        gptk_layernorm_forward(ln1, ln1_mean, ln1_rstd, residual, p.ln1w + l * C, p.ln1b + l * C, n, C);
        gptk_matmul_forward(qkv, ln1, p.qkvw + (size_t)l * 3 * C * C, p.qkvb + l * 3 * C, n, C, 3 * C);
        gptk_attention_forward(atty, att, qkv, Bs, T, C, NH);
        gptk_matmul_forward(attproj, atty, p.attprojw + (size_t)l * C * C, p.attprojb + l * C, n, C, C);
        gptk_residual_forward(residual2, residual, attproj, n * C);
        gptk_layernorm_forward(ln2, ln2_mean, ln2_rstd, residual2, p.ln2w + l * C, p.ln2b + l * C, n, C);
        gptk_matmul_forward(fch, ln2, p.fcw + (size_t)l * 4 * C * C, p.fcb + l * 4 * C, n, C, 4 * C);
        gptk_gelu_forward(fch_gelu, fch, n * 4 * C);
        gptk_matmul_forward(fcproj, fch_gelu, p.fcprojw + (size_t)l * C * 4 * C, p.fcprojb + l * C, n,
                            4 * C, C);
        gptk_residual_forward(residual3, residual2, fcproj, n * C);
    }
    const float *last = a.residual3 + (size_t)(L - 1) * BT * C + r0 * C; // (Bs,T,C)
    float *lnf = a.lnf + r0 * C, *logits = a.logits + r0 * V;
    gptk_layernorm_forward(lnf, a.lnf_mean + r0, a.lnf_rstd + r0, last, p.lnfw, p.lnfb, n, C);
    m->n_scored[s] = -1;
    int ns = 0, *idx = m->scored_idx + r0, *tgc = m->scored_idx + BT + r0;
    if (scored_only)
        for (int i = 0; i < n; i++)
            if (targets[i] >= 0) idx[ns++] = i;
    if (!scored_only || ns == n) {
        gptk_matmul_forward(logits, lnf, p.wte, NULL, n, C, V); // (Bs,T,V), tied embedding
        gptk_softmax_logp_forward(logits, logp, targets, n, V);
        return;
    }
    // the output layer at the ns scored positions only, on compacted rows
    m->n_scored[s] = ns;
    float *lnc = m->scored_buf + r0 * C, *lpc = m->scored_buf + 2 * BT * C + r0;
    for (int i = 0; i < ns; i++) {
        memcpy(lnc + (size_t)i * C, lnf + (size_t)idx[i] * C, (size_t)C * sizeof(float));
        tgc[i] = targets[idx[i]];
    }
    gptk_matmul_forward(logits, lnc, p.wte, NULL, ns, C, V); // (ns,V)
    gptk_softmax_logp_forward(logits, lpc, tgc, ns, V);
    memset(logp, 0, (size_t)n * sizeof *logp);
    for (int i = 0; i < ns; i++)
        logp[idx[i]] = lpc[i];
}

typedef struct {
    gpt_model *m;
    float *logp; /* forward */
    int scored_only;
    const float *dlogp; /* backward */
} shard_job;

static void forward_piece(void *ctx, int s)
{
    shard_job *j = ctx;
    forward_shard(j->m, s, j->logp, j->scored_only);
}

static int forward(gpt_model *m, const int *inputs, const int *targets, int B, int T, float *logp,
                   int scored_only)
{
    if (T > m->cfg.ctx || T < 1 || B < 1) return -1;
    if (m->dev) return gpt_dev_forward(m, inputs, targets, B, T, logp);
    if (ensure_acts(m, B, T) != 0) return -1;
    size_t BT = (size_t)B * T;
    memcpy(m->last_inputs, inputs, BT * sizeof(int));
    memcpy(m->last_targets, targets, BT * sizeof(int));
    m->last_B = B;
    m->last_T = T;
    m->shards = B >= 2 ? GPT_SHARDS : 1;
    shard_job j = {m, logp, scored_only, NULL};
    gpt_pool_run(m->shards, forward_piece, &j);
    return 0;
}

int gpt_forward(gpt_model *m, const int *inputs, const int *targets, int B, int T, float *logp)
{
    return forward(m, inputs, targets, B, T, logp, 0);
}

int gpt_forward_scored(gpt_model *m, const int *inputs, const int *targets, int B, int T,
                       float *logp)
{
    return forward(m, inputs, targets, B, T, logp, 1);
}

int gpt_zero_grad(gpt_model *m)
{
    if (m->dev) return gpt_dev_zero_grad(m);
    if (!m->grads_mem) {
        m->grads_mem = calloc(m->nparams, sizeof(float));
        m->m_mem = calloc(m->nparams, sizeof(float));
        m->v_mem = calloc(m->nparams, sizeof(float));
        if (!m->grads_mem || !m->m_mem || !m->v_mem) {
            free(m->grads_mem);
            free(m->m_mem);
            free(m->v_mem);
            m->grads_mem = m->m_mem = m->v_mem = NULL;
            return -1;
        }
        gpt_point_params(&m->g, m->grads_mem, m->param_sizes);
        m->adam_t = 0;
        return 0;
    }
    memset(m->grads_mem, 0, m->nparams * sizeof(float));
    return 0;
}

/* The backward pass of shard s into its parameter gradient g (m->g for shard 0, else its
 * slot of shard_grads, zeroed here). */
static void backward_shard(gpt_model *m, int s, const float *dlogp)
{
    const gpt_config *c = &m->cfg;
    int L = c->layers, C = c->width, NH = c->heads, V = c->vocab;
    int B = m->last_B, T = m->last_T, b0, b1;
    shard_rows(m, s, &b0, &b1);
    int Bs = b1 - b0, n = Bs * T;
    size_t BT = (size_t)B * T, r0 = (size_t)b0 * T;
    gpt_params p = m->p, g = m->g;
    if (s > 0) {
        float *mem = m->shard_grads + (size_t)(s - 1) * m->nparams;
        memset(mem, 0, m->nparams * sizeof(float));
        gpt_point_params(&g, mem, m->param_sizes);
    }
    gpt_acts a = m->a, ga = m->ga;
    const int *targets = m->last_targets + r0;
    dlogp += r0;
    /* The kernels accumulate (+=) into the activation gradients, so each is zeroed, just
     * before its first use: the lines are then in cache when the kernel adds to them, and
     * the ones nothing adds to are skipped (the logits' gradient, which the softmax
     * overwrites, and the attention matrix's, which attention_backward keeps to itself).
     * One memset of all of them took 8 % of a step. */
    const size_t nC = (size_t)n * C;
#define ZERO(ptr, k) memset((ptr), 0, (size_t)(k) * sizeof(float))

    float *lnf = a.lnf + r0 * C, *dlnf = ga.lnf + r0 * C;
    ZERO(dlnf, nC);
    if (m->n_scored[s] < 0) {
        gptk_softmax_logp_backward(ga.logits + r0 * V, a.logits + r0 * V, targets, dlogp, n, V);
        gptk_matmul_backward(dlnf, g.wte, NULL, ga.logits + r0 * V, lnf, p.wte, n, C, V);
    } else { // gpt_forward_scored: the compacted rows, and their gradient back in place
        int ns = m->n_scored[s], *idx = m->scored_idx + r0, *tgc = m->scored_idx + BT + r0;
        float *lnc = m->scored_buf + r0 * C, *dlnc = m->scored_buf + BT * C + r0 * C;
        float *dlc = m->scored_buf + 2 * BT * C + BT + r0;
        for (int i = 0; i < ns; i++)
            dlc[i] = dlogp[idx[i]];
        gptk_softmax_logp_backward(ga.logits + r0 * V, a.logits + r0 * V, tgc, dlc, ns, V);
        ZERO(dlnc, (size_t)ns * C);
        gptk_matmul_backward(dlnc, g.wte, NULL, ga.logits + r0 * V, lnc, p.wte, ns, C, V);
        for (int i = 0; i < ns; i++)
            memcpy(dlnf + (size_t)idx[i] * C, dlnc + (size_t)i * C, (size_t)C * sizeof(float));
    }
    size_t olast = (size_t)(L - 1) * BT * C + r0 * C;
    ZERO(ga.residual3 + olast, nC);
    gptk_layernorm_backward(ga.residual3 + olast, g.lnfw, g.lnfb, dlnf, a.residual3 + olast, p.lnfw,
                            a.lnf_mean + r0, a.lnf_rstd + r0, n, C);

    for (int l = L - 1; l >= 0; l--) {
        size_t o1 = (size_t)l * BT * C + r0 * C, o3 = 3 * o1, o4 = 4 * o1, ob = (size_t)l * BT + r0;
        const float *residual = l == 0 ? a.encoded + r0 * C : a.residual3 + o1 - BT * C;
        float *dresidual = l == 0 ? ga.encoded + r0 * C : ga.residual3 + o1 - BT * C;
        size_t oatt = ((size_t)l * B + b0) * NH * T * T;
        float *dresidual3 = ga.residual3 + o1;
        // MLP
        ZERO(ga.residual2 + o1, nC);
        ZERO(ga.fcproj + o1, nC);
        gptk_residual_backward(ga.residual2 + o1, ga.fcproj + o1, dresidual3, n * C);
        ZERO(ga.fch_gelu + o4, 4 * nC);
        gptk_matmul_backward(ga.fch_gelu + o4, g.fcprojw + (size_t)l * C * 4 * C, g.fcprojb + l * C,
                             ga.fcproj + o1, a.fch_gelu + o4, p.fcprojw + (size_t)l * C * 4 * C, n,
                             4 * C, C);
        ZERO(ga.fch + o4, 4 * nC);
        gptk_gelu_backward(ga.fch + o4, a.fch + o4, ga.fch_gelu + o4, n * 4 * C);
        ZERO(ga.ln2 + o1, nC);
        gptk_matmul_backward(ga.ln2 + o1, g.fcw + (size_t)l * 4 * C * C, g.fcb + l * 4 * C, ga.fch + o4,
                             a.ln2 + o1, p.fcw + (size_t)l * 4 * C * C, n, C, 4 * C);
        gptk_layernorm_backward(ga.residual2 + o1, g.ln2w + l * C, g.ln2b + l * C, ga.ln2 + o1,
                                a.residual2 + o1, p.ln2w + l * C, a.ln2_mean + ob, a.ln2_rstd + ob, n,
                                C);
        // attention
        ZERO(dresidual, nC);
        ZERO(ga.attproj + o1, nC);
        gptk_residual_backward(dresidual, ga.attproj + o1, ga.residual2 + o1, n * C);
        ZERO(ga.atty + o1, nC);
        gptk_matmul_backward(ga.atty + o1, g.attprojw + (size_t)l * C * C, g.attprojb + l * C,
                             ga.attproj + o1, a.atty + o1, p.attprojw + (size_t)l * C * C, n, C, C);
        ZERO(ga.qkv + o3, 3 * nC);
        gptk_attention_backward(ga.qkv + o3, ga.atty + o1, a.qkv + o3, a.att + oatt, Bs, T, C, NH);
        ZERO(ga.ln1 + o1, nC);
        gptk_matmul_backward(ga.ln1 + o1, g.qkvw + (size_t)l * 3 * C * C, g.qkvb + l * 3 * C,
                             ga.qkv + o3, a.ln1 + o1, p.qkvw + (size_t)l * 3 * C * C, n, C, 3 * C);
        gptk_layernorm_backward(dresidual, g.ln1w + l * C, g.ln1b + l * C, ga.ln1 + o1, residual,
                                p.ln1w + l * C, a.ln1_mean + ob, a.ln1_rstd + ob, n, C);
    }
    gptk_encoder_backward(g.wte, g.wpe, ga.encoded + r0 * C, m->last_inputs + r0, Bs, T, C);
#undef ZERO
}

static void backward_piece(void *ctx, int s)
{
    shard_job *j = ctx;
    backward_shard(j->m, s, j->dlogp);
}

/* Pieces of a parameter-sized loop: this many, in ranges of whole cache lines. */
#define PARAM_PIECES 8
static void param_range(size_t n, int i, size_t *lo, size_t *hi)
{
    size_t step = ((n + PARAM_PIECES - 1) / PARAM_PIECES + 15) & ~(size_t)15;
    *lo = step * (size_t)i < n ? step * (size_t)i : n;
    *hi = *lo + step < n ? *lo + step : n;
}

/* g += the other shards' gradients, in shard order (element by element: any split of the
 * range gives the same sums). */
static void reduce_piece(void *ctx, int i)
{
    gpt_model *m = ctx;
    size_t lo, hi;
    param_range(m->nparams, i, &lo, &hi);
    for (int s = 1; s < m->shards; s++) {
        const float *src = m->shard_grads + (size_t)(s - 1) * m->nparams;
        for (size_t k = lo; k < hi; k++)
            m->grads_mem[k] += src[k];
    }
}

int gpt_backward(gpt_model *m, const float *dlogp)
{
    if (m->dev) return gpt_dev_backward(m, dlogp);
    if (!m->gacts_mem) {
        size_t s[GPT_NUM_ACT_TENSORS];
        gpt_act_sizes(&m->cfg, m->act_B, m->act_T, s); // the capacity, like acts_mem
        m->gacts_mem = malloc(gpt_sum_sizes(s, GPT_NUM_ACT_TENSORS) * sizeof(float));
        if (!m->gacts_mem) return -1;
    }
    if (!m->grads_mem) return -1;
    if (m->shards > 1 && !m->shard_grads) {
        m->shard_grads = malloc((size_t)(GPT_SHARDS - 1) * m->nparams * sizeof(float));
        if (!m->shard_grads) return -1;
    }
    gpt_point_acts(&m->ga, m->gacts_mem, m->act_sizes);
    shard_job j = {m, NULL, 0, dlogp};
    gpt_pool_run(m->shards, backward_piece, &j);
    if (m->shards > 1) gpt_pool_run(PARAM_PIECES, reduce_piece, m);
    return 0;
}

typedef struct {
    gpt_model *m;
    float lr, beta1, beta2, eps, weight_decay, clip, bc1, bc2;
} adamw_job;

/* AdamW on one range of the parameters, tensor by tensor (element-wise: the same bits as
 * one pass over all of them). */
static void adamw_piece(void *ctx, int i)
{
    const adamw_job *j = ctx;
    gpt_model *m = j->m;
    size_t lo, hi, off = 0;
    param_range(m->nparams, i, &lo, &hi);
    for (int t = 0; t < GPT_NUM_PARAM_TENSORS; t++) {
        size_t a = off > lo ? off : lo, e = off + m->param_sizes[t];
        size_t b = e < hi ? e : hi;
        // decay matrices and embeddings only (indices of 2-D tensors), not biases/layernorms
        int decay = (t == 0 || t == 1 || t == 4 || t == 6 || t == 10 || t == 12);
        if (a < b)
            gptk_adamw_update(m->params_mem + a, m->grads_mem + a, m->m_mem + a, m->v_mem + a,
                              b - a, j->lr, j->beta1, j->beta2, j->eps,
                              decay ? j->weight_decay : 0.0f, j->clip, j->bc1, j->bc2);
        off = e;
    }
}

float gpt_adamw(gpt_model *m, float lr, float beta1, float beta2, float eps, float weight_decay,
                float max_norm)
{
    if (m->dev) return gpt_dev_adamw(m, lr, beta1, beta2, eps, weight_decay, max_norm);
    double norm2 = gptk_grad_sumsq(m->grads_mem, m->nparams);
    float norm = (float)sqrt(norm2);
    float clip = (max_norm > 0 && norm > max_norm) ? max_norm / norm : 1.0f;
    m->adam_t++;
    float bc1 = 1.0f - powf(beta1, (float)m->adam_t), bc2 = 1.0f - powf(beta2, (float)m->adam_t);
    adamw_job j = {m, lr, beta1, beta2, eps, weight_decay, clip, bc1, bc2};
    gpt_pool_run(PARAM_PIECES, adamw_piece, &j);
    return norm;
}

/* ---- sampling with a KV cache ---- */

/* work holds 2V floats: the tempered weights and scratch for the top-k threshold. */
static int sample_row(const float *probs, int V, float temperature, int top_k, dc_rng *rng,
                      float *work)
{
    // probs are softmax(logits); re-temper in log space when temperature != 1
    for (int v = 0; v < V; v++) work[v] = probs[v];
    if (temperature != 1.0f) {
        float inv = 1.0f / temperature, maxl = -1e30f;
        for (int v = 0; v < V; v++) {
            work[v] = work[v] > 0 ? logf(work[v]) * inv : -1e30f;
            if (work[v] > maxl) maxl = work[v];
        }
        for (int v = 0; v < V; v++) work[v] = expf(work[v] - maxl);
    }
    if (top_k > 0 && top_k < V) {
        // threshold = k-th largest value (selection by repeated max: top_k is small)
        float thresh = 0.0f;
        float *tmp = work + V;
        for (int v = 0; v < V; v++) tmp[v] = work[v];
        for (int k = 0; k < top_k; k++) {
            int best = 0;
            for (int v = 1; v < V; v++)
                if (tmp[v] > tmp[best]) best = v;
            thresh = tmp[best];
            tmp[best] = -1.0f;
        }
        int kept = 0;
        for (int v = 0; v < V; v++) {
            if (work[v] < thresh || kept >= top_k) work[v] = 0.0f;
            else kept++;
        }
    }
    double sum = 0.0;
    for (int v = 0; v < V; v++) sum += work[v];
    double u = dc_rng_uniform(rng) * sum, acc = 0.0;
    int last_nz = 0;
    for (int v = 0; v < V; v++) {
        if (work[v] <= 0) continue;
        last_nz = v;
        acc += work[v];
        if (u < acc) return v;
    }
    return last_nz; // rounding: fall back to the last token with mass
}

int gpt_sample(const gpt_model *m, const int *const *prompts, const int *plen, int B, int max_new,
               float temperature, int top_k, dc_rng *rngs, int **out, int *out_len, double *logp)
{
    const gpt_config *c = &m->cfg;
    int L = c->layers, C = c->width, NH = c->heads, V = c->vocab, T = c->ctx, hs = C / NH;
    int maxlen = 0;
    for (int b = 0; b < B; b++) {
        if (plen[b] < 1 || plen[b] + max_new > T) return -1;
        if (plen[b] + max_new > maxlen) maxlen = plen[b] + max_new;
        memcpy(out[b], prompts[b], (size_t)plen[b] * sizeof(int));
        out_len[b] = plen[b];
        if (logp) logp[b] = 0.0;
    }
    size_t kvn = (size_t)L * B * T * C;
    float *kc = malloc(kvn * sizeof(float)), *vc = malloc(kvn * sizeof(float)); // (L,B,T,C)
    /* Each position runs the rows still sampling only (na of them, row i is sequence
     * act[i]): a finished sequence costs nothing more. */
    float *x = malloc((size_t)B * C * sizeof(float));       // (na,C) residual stream
    float *h = malloc((size_t)B * C * sizeof(float));       // (na,C)
    float *qkv = malloc((size_t)B * 3 * C * sizeof(float)); // (na,3C)
    float *y = malloc((size_t)B * C * sizeof(float));
    float *f = malloc((size_t)B * 4 * C * sizeof(float));   // (na,4C)
    float *fg = malloc((size_t)B * 4 * C * sizeof(float));
    float *logits = malloc((size_t)B * V * sizeof(float));  // (na,V)
    float *att = malloc((size_t)T * sizeof(float));
    float *work = malloc((size_t)2 * V * sizeof(float));
    int *act = malloc((size_t)B * sizeof(int)), *smp = malloc((size_t)B * sizeof(int));
    int *done = calloc((size_t)B, sizeof(int));
    int rc = -1;
    if (!kc || !vc || !x || !h || !qkv || !y || !f || !fg || !logits || !att || !work || !act ||
        !smp || !done)
        goto out;
    int na = 0;
    for (int b = 0; b < B; b++)
        if (max_new > 0) act[na++] = b;
    float scale = 1.0f / sqrtf((float)hs);
    for (int pos = 0; pos < maxlen - 1 && na > 0; pos++) {
        for (int i = 0; i < na; i++) {
            // the input at pos is known: a prompt token or one sampled at the previous step
            int b = act[i], tok = pos < out_len[b] ? out[b][pos] : GPT_EOT;
            const float *te = m->p.wte + (size_t)tok * C, *pe = m->p.wpe + (size_t)pos * C;
            for (int k = 0; k < C; k++) x[(size_t)i * C + k] = te[k] + pe[k];
        }
        for (int l = 0; l < L; l++) {
            gptk_layernorm_forward(h, NULL, NULL, x, m->p.ln1w + l * C, m->p.ln1b + l * C, na, C);
            gptk_matmul_forward(qkv, h, m->p.qkvw + (size_t)l * 3 * C * C, m->p.qkvb + l * 3 * C, na,
                                C, 3 * C);
            for (int i = 0; i < na; i++) {
                int b = act[i];
                float *kb = kc + (((size_t)l * B + b) * T) * C, *vb = vc + (((size_t)l * B + b) * T) * C;
                const float *qi = qkv + (size_t)i * 3 * C;
                memcpy(kb + (size_t)pos * C, qi + C, (size_t)C * sizeof(float));
                memcpy(vb + (size_t)pos * C, qi + 2 * C, (size_t)C * sizeof(float));
                for (int hh = 0; hh < NH; hh++) {
                    const float *q = qi + hh * hs;
                    float maxv = -1e30f, sum = 0.0f;
                    for (int t2 = 0; t2 <= pos; t2++) {
                        const float *k = kb + (size_t)t2 * C + hh * hs;
                        float sc = 0.0f;
                        for (int e = 0; e < hs; e++) sc += q[e] * k[e];
                        att[t2] = sc * scale;
                        if (att[t2] > maxv) maxv = att[t2];
                    }
                    for (int t2 = 0; t2 <= pos; t2++) {
                        att[t2] = expf(att[t2] - maxv);
                        sum += att[t2];
                    }
                    float *o = y + (size_t)i * C + hh * hs;
                    for (int e = 0; e < hs; e++) o[e] = 0.0f;
                    for (int t2 = 0; t2 <= pos; t2++) {
                        const float *v = vb + (size_t)t2 * C + hh * hs;
                        float w = att[t2] / sum;
                        for (int e = 0; e < hs; e++) o[e] += w * v[e];
                    }
                }
            }
            gptk_matmul_forward(h, y, m->p.attprojw + (size_t)l * C * C, m->p.attprojb + l * C, na, C, C);
            gptk_residual_forward(x, x, h, na * C);
            gptk_layernorm_forward(h, NULL, NULL, x, m->p.ln2w + l * C, m->p.ln2b + l * C, na, C);
            gptk_matmul_forward(f, h, m->p.fcw + (size_t)l * 4 * C * C, m->p.fcb + l * 4 * C, na, C,
                                4 * C);
            gptk_gelu_forward(fg, f, na * 4 * C);
            gptk_matmul_forward(h, fg, m->p.fcprojw + (size_t)l * C * 4 * C, m->p.fcprojb + l * C, na,
                                4 * C, C);
            gptk_residual_forward(x, x, h, na * C);
        }
        /* The output layer only for the rows that sample at this position (those whose
         * next position is beyond their prompt), compacted to the front of x; smp[j] is
         * the sequence of compacted row j. */
        int ns = 0;
        for (int i = 0; i < na; i++)
            if (pos + 1 >= out_len[act[i]]) {
                if (ns != i) memcpy(x + (size_t)ns * C, x + (size_t)i * C, (size_t)C * sizeof(float));
                smp[ns++] = act[i];
            }
        if (ns > 0) {
            gptk_layernorm_forward(h, NULL, NULL, x, m->p.lnfw, m->p.lnfb, ns, C);
            gptk_matmul_forward(logits, h, m->p.wte, NULL, ns, C, V);
            gptk_softmax_logp_forward(logits, NULL, NULL, ns, V);
        }
        for (int j = 0; j < ns; j++) {
            int b = smp[j];
            const float *pr = logits + (size_t)j * V;
            int nt = sample_row(pr, V, temperature, top_k, &rngs[b], work);
            if (logp) logp[b] += log((double)pr[nt]); // the model's own probability
            out[b][out_len[b]++] = nt;
            if (nt == GPT_EOT || out_len[b] >= plen[b] + max_new) done[b] = 1;
        }
        int kept = 0;
        for (int i = 0; i < na; i++)
            if (!done[act[i]]) act[kept++] = act[i];
        na = kept;
    }
    rc = 0;
out:
    free(kc);
    free(vc);
    free(x);
    free(h);
    free(qkv);
    free(y);
    free(f);
    free(fg);
    free(logits);
    free(att);
    free(work);
    free(act);
    free(smp);
    free(done);
    return rc;
}
