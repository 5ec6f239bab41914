/* lm.c — batching, log-probabilities, training steps and sampling over sent_seq. */
#include "lm.h"

#include "common/util.h"
#include "gpt_pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sent_seq_free(sent_seq *s)
{
    free(s->tok);
    memset(s, 0, sizeof *s);
}

int sent_batch_build(const sent_seq *s, int K, int resp_only, int *inputs, int *targets)
{
    int T = 1;
    for (int k = 0; k < K; k++)
        if (s[k].len - 1 > T) T = s[k].len - 1;
    for (int k = 0; k < K; k++) {
        int *in = inputs + (size_t)k * T, *tg = targets + (size_t)k * T;
        for (int t = 0; t < T; t++) {
            int valid = t + 1 < s[k].len;
            in[t] = valid ? s[k].tok[t] : 0;
            // position t predicts tok[t+1]; a response token sits at index >= plen
            int scored = valid && (!resp_only || t + 1 >= s[k].plen);
            tg[t] = scored ? s[k].tok[t + 1] : -1;
        }
    }
    return T;
}

int sent_seq_logps(gpt_model *m, const sent_seq *s, int K, int chunk, double *sum,
                   float *tok_logp)
{
    int T = m->cfg.ctx;
    int *inputs = malloc((size_t)chunk * T * sizeof(int));
    int *targets = malloc((size_t)chunk * T * sizeof(int));
    float *logp = malloc((size_t)chunk * T * sizeof(float));
    int rc = -1;
    if (!inputs || !targets || !logp) goto out;
    size_t tok_off = 0;
    for (int k0 = 0; k0 < K; k0 += chunk) {
        int n = K - k0 < chunk ? K - k0 : chunk;
        int Tb = sent_batch_build(s + k0, n, 1, inputs, targets);
        if (gpt_forward_scored(m, inputs, targets, n, Tb, logp) != 0) goto out;
        for (int k = 0; k < n; k++) {
            double acc = 0.0;
            for (int t = 0; t < Tb; t++) {
                if (targets[(size_t)k * Tb + t] < 0) continue;
                float lp = logp[(size_t)k * Tb + t];
                acc += lp;
                if (tok_logp) tok_logp[tok_off++] = lp;
            }
            sum[k0 + k] = acc;
        }
    }
    rc = 0;
out:
    free(inputs);
    free(targets);
    free(logp);
    return rc;
}

int sent_seq_kl(gpt_model *policy, gpt_model *ref, const sent_seq *s, int K, double *kl)
{
    *kl = 0;
    long tokens = 0;
    for (int k = 0; k < K; k++) tokens += sent_seq_resp_len(&s[k]);
    if (tokens == 0) return 0;
    double *lp = malloc((size_t)K * sizeof *lp), *lr = malloc((size_t)K * sizeof *lr);
    int rc = -1;
    if (lp && lr && sent_seq_logps(policy, s, K, 32, lp, NULL) == 0 &&
        sent_seq_logps(ref, s, K, 32, lr, NULL) == 0) {
        double d = 0;
        for (int k = 0; k < K; k++) d += lp[k] - lr[k];
        *kl = d / (double)tokens;
        rc = 0;
    }
    free(lp);
    free(lr);
    return rc;
}

int sent_seq_kl_given(const double *policy_logp, gpt_model *ref, const sent_seq *s, int K,
                      double *kl)
{
    *kl = 0;
    long tokens = 0;
    for (int k = 0; k < K; k++) tokens += sent_seq_resp_len(&s[k]);
    if (tokens == 0) return 0;
    double *lr = malloc((size_t)K * sizeof *lr);
    int rc = -1;
    if (lr && sent_seq_logps(ref, s, K, 32, lr, NULL) == 0) {
        double d = 0;
        for (int k = 0; k < K; k++) d += policy_logp[k] - lr[k];
        *kl = d / (double)tokens;
        rc = 0;
    }
    free(lr);
    return rc;
}

float sent_lm_step(gpt_model *m, const int *inputs, const int *targets, int B, int T, float lr)
{
    float *logp = malloc((size_t)B * T * sizeof(float));
    float *dlogp = malloc((size_t)B * T * sizeof(float));
    float loss = NAN;
    if (!logp || !dlogp) goto out;
    if (gpt_forward_scored(m, inputs, targets, B, T, logp) != 0) goto out;
    int count = 0;
    double nll = 0.0;
    for (int i = 0; i < B * T; i++)
        if (targets[i] >= 0) {
            count++;
            nll -= logp[i];
        }
    if (count == 0) goto out;
    for (int i = 0; i < B * T; i++) dlogp[i] = targets[i] >= 0 ? -1.0f / (float)count : 0.0f;
    if (gpt_zero_grad(m) != 0 || gpt_backward(m, dlogp) != 0) goto out;
    gpt_adamw(m, lr, 0.9f, 0.95f, 1e-8f, 0.01f, 1.0f);
    loss = (float)(nll / count);
out:
    free(logp);
    free(dlogp);
    return loss;
}

typedef struct {
    const gpt_model *m;
    int K, chunk, max_new, top_k;
    float temperature;
    const int **pp;
    int *pl, *ol, **ob;
    dc_rng *rngs;
    double *logp;
    int failed; /* a chunk failed (written by its piece only; read after all are done) */
    int *chunk_rc;
} sample_job;

static void sample_piece(void *ctx, int i)
{
    sample_job *j = ctx;
    int k0 = i * j->chunk, n = j->K - k0 < j->chunk ? j->K - k0 : j->chunk;
    j->chunk_rc[i] = gpt_sample(j->m, j->pp + k0, j->pl + k0, n, j->max_new, j->temperature,
                                j->top_k, j->rngs + k0, j->ob + k0, j->ol + k0,
                                j->logp ? j->logp + k0 : NULL);
}

int sent_sample(const gpt_model *m, const sent_seq *prompts, int K, int chunk, int max_new,
                float temperature, int top_k, dc_rng *rng, sent_seq *out, double *logp)
{
    size_t k1 = K > 0 ? (size_t)K : 1;
    int nchunks = K > 0 ? (K + chunk - 1) / chunk : 0;
    const int **pp = malloc(k1 * sizeof *pp);
    int *pl = malloc(k1 * sizeof *pl), *ol = malloc(k1 * sizeof *ol);
    int **ob = calloc(k1, sizeof *ob);
    dc_rng *rngs = malloc(k1 * sizeof *rngs);
    int *crc = calloc((size_t)nchunks + 1, sizeof *crc);
    int rc = -1;
    for (int k = 0; k < K; k++) memset(&out[k], 0, sizeof out[k]);
    if (!pp || !pl || !ol || !ob || !rngs || !crc) goto out;
    for (int k = 0; k < K; k++) {
        const sent_seq *p = &prompts[k];
        pp[k] = p->tok;
        pl[k] = p->plen;
        out[k].tok = malloc((size_t)(p->plen + max_new) * sizeof(int));
        if (!out[k].tok) goto out;
        ob[k] = out[k].tok;
        // one stream per prompt, drawn in order: results depend neither on the chunk size
        // nor on which thread samples a chunk
        dc_rng_seed(&rngs[k], dc_rng_next(rng));
    }
    // chunks are independent: the pool samples them side by side (gpt_pool.h)
    sample_job j = {m, K, chunk, max_new, top_k, temperature, pp, pl, ol, ob, rngs, logp, 0, crc};
    gpt_pool_run(nchunks, sample_piece, &j);
    for (int i = 0; i < nchunks; i++)
        if (crc[i] != 0) goto out;
    for (int k = 0; k < K; k++) {
        out[k].len = ol[k];
        out[k].plen = pl[k];
    }
    rc = 0;
out:
    if (rc != 0)
        for (int k = 0; k < K; k++) sent_seq_free(&out[k]);
    free(pp);
    free(pl);
    free(ol);
    free(ob);
    free(rngs);
    free(crc);
    return rc;
}

int sent_seq_text(const sent_vocab *v, const sent_seq *s, char *buf, int cap)
{
    return sent_vocab_decode(v, s->tok, s->len, buf, cap);
}

double sent_seq_reward(const dc_lexicon *lx, const sent_vocab *v, const sent_seq *s)
{
    char buf[4096];
    int n = sent_seq_text(v, s, buf, sizeof buf);
    return dc_lexicon_reward(lx, buf, (size_t)n);
}

float sent_lr_at(float lr, int step, int steps)
{
    int warm = steps / 20 > 0 ? steps / 20 : 1;
    if (step < warm) return lr * (float)(step + 1) / (float)warm;
    float frac = (float)(step - warm) / (float)(steps - warm > 0 ? steps - warm : 1);
    return lr * (0.1f + 0.9f * 0.5f * (1.0f + cosf(3.14159265f * frac)));
}
