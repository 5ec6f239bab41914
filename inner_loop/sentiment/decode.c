/* decode.c — the decoding-time alignment baselines (no training), both from π_ref:
 * best-of-N sampling and Transfer Q*-style decoding.
 *
 * Transfer Q*: after Chakraborty et al. 2024 (arXiv 2405.20495), in its "direct transfer"
 * form with π_ref as the baseline policy.
 *
 * At every response position the next-token distribution of π_ref is cut to its top-k
 * tokens a_1..a_k; each candidate's long-term value Q(s, a_i) is estimated as the mean
 * reward of `tq` rollouts of π_ref continuing s·a_i to the end of the response (an
 * end-of-text candidate is scored as it stands); the token is drawn from
 *     π_dec(a_i | s) ∝ π_ref(a_i | s) · exp(Q(s, a_i) / α).
 * Both distributions are known at every step, so KL(π_dec ‖ π_ref) is exact per step:
 * Σ_i π_dec(a_i) (log π_dec(a_i) − log π_ref(a_i)); summed over the response and divided
 * by the response lengths, it is per-token like the trained policies' KL. */
#include "sent_internal.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TQ_MAX_TOPK 16

/* π_ref's next-token probabilities after tok[0..len-1] into probs (V). 0 or -1. */
static int next_probs(gpt_model *ref, const int *tok, int len, float *probs)
{
    int V = ref->cfg.vocab;
    int *in = malloc((size_t)len * sizeof *in), *tg = malloc((size_t)len * sizeof *tg);
    float *lp = malloc((size_t)len * sizeof *lp);
    int rc = -1;
    if (in && tg && lp) {
        for (int i = 0; i < len; i++)
            in[i] = tok[i], tg[i] = -1;
        if (gpt_forward(ref, in, tg, 1, len, lp) == 0) {
            // after the forward pass the logits hold probabilities (gpt.h)
            memcpy(probs, ref->a.logits + (size_t)(len - 1) * V, (size_t)V * sizeof *probs);
            rc = 0;
        }
    }
    free(in);
    free(tg);
    free(lp);
    return rc;
}

/* The k most likely tokens (excluding <unk>, which π_ref never writes either), best first. */
static int top_k(const float *p, int V, int k, int *idx)
{
    int n = 0;
    for (int v = 0; v < V; v++) {
        if (v == SENT_TOK_UNK) continue;
        int pos; // where v goes in the sorted idx[0..n)
        if (n < k) {
            pos = n++;
        } else if (p[v] > p[idx[k - 1]]) {
            pos = k - 1; // replaces the least likely kept
        } else {
            continue;
        }
        while (pos > 0 && p[idx[pos - 1]] < p[v]) {
            idx[pos] = idx[pos - 1];
            pos--;
        }
        idx[pos] = v;
    }
    return n;
}

/* One response decoded for prompt `pr`; its reward, response length and summed KL. */
static int decode_one(dc_task *t, const sent_seq *pr, dc_rng *rng, double *reward, int *len,
                      double *kl)
{
    gpt_model *ref = &t->ref;
    int V = ref->cfg.vocab, cap = pr->plen + t->response_len;
    int k = t->tq_topk < TQ_MAX_TOPK ? t->tq_topk : TQ_MAX_TOPK, M = t->tq;
    int *tok = malloc((size_t)cap * sizeof *tok), cand[TQ_MAX_TOPK];
    float *probs = malloc((size_t)V * sizeof *probs);
    sent_seq *roll = calloc((size_t)TQ_MAX_TOPK * M, sizeof *roll);
    sent_seq *outs = calloc((size_t)TQ_MAX_TOPK * M, sizeof *outs);
    int rc = -1, n = pr->plen;
    *kl = 0;
    if (!tok || !probs || !roll || !outs) goto out;
    memcpy(tok, pr->tok, (size_t)n * sizeof *tok);
    while (n < cap) {
        if (next_probs(ref, tok, n, probs) != 0) goto out;
        int kk = top_k(probs, V, k, cand);
        double q[TQ_MAX_TOPK], w[TQ_MAX_TOPK], wmax = -INFINITY;
        int nr = 0, left = cap - n - 1; // response tokens a rollout may add after a_i
        for (int i = 0; i < kk; i++) {
            tok[n] = cand[i];
            if (cand[i] == GPT_EOT || left <= 0) { // scored as it stands
                sent_seq s = {n + 1, pr->plen, tok};
                q[i] = sent_seq_reward(t->lex, t->vocab, &s);
                continue;
            }
            q[i] = NAN;
            for (int r = 0; r < M; r++) {
                sent_seq *s = &roll[nr++];
                s->tok = malloc((size_t)(n + 1) * sizeof(int));
                if (!s->tok) goto out;
                memcpy(s->tok, tok, (size_t)(n + 1) * sizeof(int));
                s->len = s->plen = n + 1;
            }
        }
        if (nr > 0 &&
            sent_sample(ref, roll, nr, SENT_SAMPLE_CHUNK, left, 1.0f, 0, rng, outs, NULL) != 0)
            goto out;
        for (int i = 0, r0 = 0; i < kk; i++) {
            if (!isnan(q[i])) continue;
            double s = 0;
            for (int r = 0; r < M; r++) {
                // the rollout's reward is that of the whole response: the response starts
                // where the prompt ends, not where the rollout began
                sent_seq whole = {outs[r0 + r].len, pr->plen, outs[r0 + r].tok};
                s += sent_seq_reward(t->lex, t->vocab, &whole);
            }
            q[i] = s / M;
            r0 += M;
        }
        for (int i = 0; i < nr; i++) {
            sent_seq_free(&roll[i]);
            sent_seq_free(&outs[i]);
        }
        // π_dec ∝ π_ref · exp(Q / α) over the top-k, in logs for stability
        for (int i = 0; i < kk; i++) {
            w[i] = log(fmax(probs[cand[i]], 1e-30)) + q[i] / t->tq_alpha;
            wmax = fmax(wmax, w[i]);
        }
        double z = 0;
        for (int i = 0; i < kk; i++)
            z += (w[i] = exp(w[i] - wmax));
        for (int i = 0; i < kk; i++) {
            w[i] /= z;
            *kl += w[i] > 0 ? w[i] * (log(w[i]) - log(fmax(probs[cand[i]], 1e-30))) : 0.0;
        }
        double u = dc_rng_uniform(rng), acc = 0;
        int pick = kk - 1;
        for (int i = 0; i < kk; i++) {
            acc += w[i];
            if (u < acc) {
                pick = i;
                break;
            }
        }
        tok[n++] = cand[pick];
        if (cand[pick] == GPT_EOT) break;
    }
    sent_seq fin = {n, pr->plen, tok};
    *reward = sent_seq_reward(t->lex, t->vocab, &fin);
    *len = n - pr->plen;
    rc = 0;
out:
    for (int i = 0; roll && i < TQ_MAX_TOPK * M; i++) {
        sent_seq_free(&roll[i]);
        sent_seq_free(&outs[i]);
    }
    free(roll);
    free(outs);
    free(probs);
    free(tok);
    return rc;
}

int sent_transfer_q(dc_task *t, const sent_seq *prompts, int n, uint64_t seed, cJSON *m)
{
    if (t->tq < 1 || n < 1) return 0;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    double rsum = 0, klsum = 0;
    long tokens = 0;
    for (int i = 0; i < n; i++) {
        double r, kl;
        int len;
        if (decode_one(t, &prompts[i], &rng, &r, &len, &kl) != 0) return -1;
        rsum += r;
        klsum += kl;
        tokens += len;
    }
    cJSON_AddNumberToObject(m, "tq/reward", rsum / n);
    cJSON_AddNumberToObject(m, "tq/kl", tokens > 0 ? klsum / (double)tokens : 0.0);
    cJSON_AddNumberToObject(m, "tq/length", (double)tokens / n);
    cJSON_AddNumberToObject(m, "tq/alpha", t->tq_alpha);
    return 0;
}

/* Best-of-N from π_ref, the decoding-time baseline that Transfer Q* and the alignment
 * literature compare trained policies with: for each prompt, the highest-reward of N samples
 * of π_ref, no training. nmax samples per prompt are drawn once; N = 2, 4, ..., nmax take
 * the first N of them, so each N's pick is at least as good as the smaller N's. The KL of
 * best-of-N to π_ref is the standard analytic value log N − (N−1)/N (per sequence; an upper
 * bound, Beirami et al. 2024), reported per token over the mean length of the picked
 * responses, as the trained policies' KL is. Adds bon_<N>/reward, bon_<N>/kl and
 * bon_<N>/length (validation prompts), or bon_<N>/test_reward (test). */
int sent_best_of_n(const dc_task *t, const sent_seq *prompts, int n, uint64_t seed, int test,
                   cJSON *m)
{
    int nmax = t->bon, K = n * nmax, rc = -1;
    if (nmax < 2 || n < 1) return 0;
    sent_seq *rep = dc_calloc((size_t)K, sizeof *rep), *gen = dc_calloc((size_t)K, sizeof *gen);
    double *r = dc_malloc((size_t)K * sizeof *r), *len = dc_malloc((size_t)K * sizeof *len);
    for (int i = 0; i < n; i++)
        for (int s = 0; s < nmax; s++)
            rep[i * nmax + s] = prompts[i];
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    if (sent_sample(&t->ref, rep, K, SENT_SAMPLE_CHUNK, t->response_len, 1.0f, 0, &rng, gen,
                    NULL) != 0)
        goto out;
    for (int k = 0; k < K; k++) {
        r[k] = sent_seq_reward(t->lex, t->vocab, &gen[k]);
        len[k] = sent_seq_resp_len(&gen[k]);
    }
    for (int N = 2; N <= nmax; N *= 2) {
        double rsum = 0, lsum = 0;
        for (int i = 0; i < n; i++) {
            int best = i * nmax;
            for (int s = 1; s < N; s++)
                if (r[i * nmax + s] > r[best]) best = i * nmax + s;
            rsum += r[best];
            lsum += len[best];
        }
        double mean_len = lsum / n, kl_seq = log((double)N) - (N - 1.0) / N;
        char key[96];
        dc_fmt(key, sizeof key, "bon_%d/%s", N, test ? "test_reward" : "reward");
        cJSON_AddNumberToObject(m, key, rsum / n);
        if (!test) { // KL and length on the validation prompts, as for β
            dc_fmt(key, sizeof key, "bon_%d/kl", N);
            cJSON_AddNumberToObject(m, key, mean_len > 0 ? kl_seq / mean_len : 0.0);
            dc_fmt(key, sizeof key, "bon_%d/length", N);
            cJSON_AddNumberToObject(m, key, mean_len);
        }
    }
    rc = 0;
out:
    for (int k = 0; k < K; k++)
        sent_seq_free(&gen[k]);
    free(gen);
    free(rep);
    free(r);
    free(len);
    return rc;
}
