/* token.c — the token-level variant of the sentiment task (`sentiment-token`): per-token
 * π_ref log-probabilities and AAO-style similarities of the training pairs, and the
 * training step that hands the candidate per-token arrays (token_pref_batch) and
 * back-propagates its per-token gradients.
 *
 * Similarity (AAO, arXiv 2511.23391, as the issue describes it; choices marked):
 *   - h(token) = π_ref's last-layer hidden state of the token, after the final layer norm,
 *     at the token's own position (the state after reading it; choice: not the position
 *     that predicts it, which would compare contexts rather than tokens);
 *   - raw(t) = max over the other response's tokens s of cos(h_t, h_s);
 *   - min-max normalised over all tokens of the pair, both responses together (choice: one
 *     scale per pair, so "more ambiguous than the rest of the pair" means the same on both
 *     sides); when every raw value of the pair is the same (max − min < 1e-9: one token
 *     each, or identical responses) the raw cosine clamped to [0, 1] is kept, so identical
 *     responses stay fully ambiguous instead of becoming 0.
 * Both are computed once per prepare() from π_ref (fixed during preference optimisation),
 * like the summed reference log-probs the sequence-level task caches.
 *
 * The report's token-weight figure gets one held-out pair the same way (prepare_pair): a
 * validation pair with its tokens' text, π_ref's per-token log-probs and similarities, which
 * every run puts into its metrics (dc_task_ops.token_pair_metric). Only π_ref's log-probs:
 * the report evaluates every candidate at π_θ = π_ref, the point where training starts,
 * so all candidates are compared on the same inputs. */
#include "sent_internal.h"

#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sent_token_free(sent_token_data *d)
{
    free(d->off_c);
    free(d->off_r);
    free(d->ref_c);
    free(d->ref_r);
    free(d->sim_c);
    free(d->sim_r);
    cJSON_Delete(d->pair);
    memset(d, 0, sizeof *d);
}

/* Last-layer hidden states of every response token of sequences s[0..K), unit length,
 * the sequences one after another (Σ response lengths rows of C) into h. 0 or -1. */
static int response_states(gpt_model *m, const sent_seq *s, int K, float *h, char *err, size_t cap)
{
    enum { CHUNK = 32 };
    int T = 0, C = m->cfg.width;
    for (int k = 0; k < K; k++)
        if (s[k].len > T) T = s[k].len;
    if (T > m->cfg.ctx) {
        dc_fmt(err, cap, "a training sequence of %d tokens exceeds the context %d", T, m->cfg.ctx);
        return -1;
    }
    int *in = dc_calloc((size_t)CHUNK * T, sizeof(int)),
        *tg = dc_malloc((size_t)CHUNK * T * sizeof(int));
    float *lp = dc_malloc((size_t)CHUNK * T * sizeof(float));
    for (int i = 0; i < CHUNK * T; i++)
        tg[i] = -1; // no log-probs wanted: only the activations
    size_t row = 0;
    int rc = 0;
    for (int k0 = 0; k0 < K && rc == 0; k0 += CHUNK) {
        int n = K - k0 < CHUNK ? K - k0 : CHUNK;
        for (int k = 0; k < n; k++)
            for (int q = 0; q < T; q++)
                in[k * T + q] = q < s[k0 + k].len ? s[k0 + k].tok[q] : 0;
        if (gpt_forward(m, in, tg, n, T, lp) != 0) {
            dc_fmt(err, cap, "out of memory computing the reference's hidden states");
            rc = -1;
            break;
        }
        for (int k = 0; k < n; k++)
            for (int q = s[k0 + k].plen; q < s[k0 + k].len; q++, row++) {
                const float *src = m->a.lnf + ((size_t)k * T + q) * C;
                double norm = 0;
                for (int c = 0; c < C; c++)
                    norm += (double)src[c] * src[c];
                float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
                for (int c = 0; c < C; c++)
                    h[row * C + c] = src[c] * inv;
            }
    }
    free(in);
    free(tg);
    free(lp);
    return rc;
}

/* raw similarity of each of a's na tokens to b's nb tokens (unit rows of C) into out */
static void max_cosine(const float *a, int na, const float *b, int nb, int C, double *out)
{
    for (int t = 0; t < na; t++) {
        double best = -1;
        for (int u = 0; u < nb; u++) {
            double d = 0;
            for (int c = 0; c < C; c++)
                d += (double)a[(size_t)t * C + c] * b[(size_t)u * C + c];
            if (d > best) best = d;
        }
        out[t] = best;
    }
}

void sent_token_normalise(double *c, int nc, double *r, int nr)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int t = 0; t < nc; t++)
        lo = fmin(lo, c[t]), hi = fmax(hi, c[t]);
    for (int t = 0; t < nr; t++)
        lo = fmin(lo, r[t]), hi = fmax(hi, r[t]);
    double span = hi - lo;
    for (int side = 0; side < 2; side++) {
        double *v = side ? r : c;
        int nv = side ? nr : nc;
        for (int t = 0; t < nv; t++)
            v[t] = span < 1e-9 ? fmin(1.0, fmax(0.0, v[t])) : (v[t] - lo) / span;
    }
}

/* A number rounded to the 6 significant digits the archive keeps of the pair (the report
 * evaluates candidates on exactly what is stored). */
static double r6(double v)
{
    char b[32];
    snprintf(b, sizeof b, "%.6g", v);
    return strtod(b, NULL);
}

/* One response of the held-out pair as {"tokens", "ref_logps", "sim", "reward"}. */
static cJSON *pair_side(const dc_task *t, const sent_seq *s, const float *lp, const double *sim,
                        double reward)
{
    cJSON *o = cJSON_CreateObject(), *tok = cJSON_AddArrayToObject(o, "tokens"),
          *ref = cJSON_AddArrayToObject(o, "ref_logps"), *sm = cJSON_AddArrayToObject(o, "sim");
    for (int q = s->plen; q < s->len; q++) {
        const char *w = sent_vocab_word(t->vocab, s->tok[q]);
        cJSON_AddItemToArray(tok, cJSON_CreateString(w ? w : "<unk>"));
        cJSON_AddItemToArray(ref, cJSON_CreateNumber(r6(lp[q - s->plen])));
        cJSON_AddItemToArray(sm, cJSON_CreateNumber(r6(sim[q - s->plen])));
    }
    cJSON_AddNumberToObject(o, "reward", r6(reward));
    return o;
}

/* The held-out pair of the report's figure: of the validation pairs, the one whose shorter
 * response is longest (the first such), with π_ref's per-token log-probs and the
 * similarities computed as for the training pairs. 0 (d->pair NULL when there is no
 * validation pair), or -1 with a message. */
static int prepare_pair(dc_task *t, char *err, size_t cap)
{
    const sent_pairs *V = &t->val_pairs;
    int pick = -1, best = 0, C = t->ref.cfg.width;
    for (int i = 0; i < V->n; i++) {
        int nc = sent_seq_resp_len(&V->chosen[i]), nr = sent_seq_resp_len(&V->rejected[i]);
        int m = nc < nr ? nc : nr;
        if (m > best) best = m, pick = i;
    }
    if (pick < 0) return 0;
    const sent_seq *c = &V->chosen[pick], *r = &V->rejected[pick];
    int nc = sent_seq_resp_len(c), nr = sent_seq_resp_len(r), rc = -1;
    float *lc = dc_malloc((size_t)nc * sizeof(float)), *lr = dc_malloc((size_t)nr * sizeof(float));
    float *hc = dc_malloc((size_t)nc * C * sizeof(float)),
          *hr = dc_malloc((size_t)nr * C * sizeof(float));
    double *sc = dc_malloc((size_t)nc * sizeof(double)),
           *sr = dc_malloc((size_t)nr * sizeof(double));
    double sum;
    if (sent_seq_logps(&t->ref, c, 1, 1, &sum, lc) != 0 ||
        sent_seq_logps(&t->ref, r, 1, 1, &sum, lr) != 0) {
        dc_fmt(err, cap, "out of memory computing the held-out pair's reference log-probabilities");
        goto out;
    }
    if (response_states(&t->ref, c, 1, hc, err, cap) != 0 ||
        response_states(&t->ref, r, 1, hr, err, cap) != 0)
        goto out;
    max_cosine(hc, nc, hr, nr, C, sc);
    max_cosine(hr, nr, hc, nc, C, sr);
    sent_token_normalise(sc, nc, sr, nr);
    char prompt[1024];
    sent_vocab_decode(t->vocab, c->tok, c->plen, prompt, sizeof prompt);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "beta", t->nbetas > 0 ? t->betas[0] : 0.05);
    cJSON_AddStringToObject(o, "prompt", prompt);
    cJSON_AddItemToObject(o, "chosen", pair_side(t, c, lc, sc, V->reward_chosen[pick]));
    cJSON_AddItemToObject(o, "rejected", pair_side(t, r, lr, sr, V->reward_rejected[pick]));
    t->tok.pair = o;
    rc = 0;
out:
    free(lc);
    free(lr);
    free(hc);
    free(hr);
    free(sc);
    free(sr);
    return rc;
}

int sent_token_prepare(dc_task *t, char *err, size_t cap)
{
    sent_token_data *d = &t->tok;
    sent_token_free(d);
    const sent_pairs *P = &t->train_pairs;
    int n = P->n, C = t->ref.cfg.width;
    if (t->ref.dev) {
        dc_fmt(err, cap, "sentiment-token: the reference model must stay on the CPU");
        return -1;
    }
    d->off_c = dc_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    d->off_r = dc_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) {
        d->off_c[i] = d->tc;
        d->off_r[i] = d->tr;
        d->tc += sent_seq_resp_len(&P->chosen[i]);
        d->tr += sent_seq_resp_len(&P->rejected[i]);
    }
    size_t tc = (size_t)d->tc, tr = (size_t)d->tr;
    float *lc = dc_malloc((tc + 1) * sizeof(float)), *lr = dc_malloc((tr + 1) * sizeof(float));
    double *sum = dc_malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    float *hc = dc_malloc((tc + 1) * C * sizeof(float)),
          *hr = dc_malloc((tr + 1) * C * sizeof(float));
    d->ref_c = dc_malloc((tc + 1) * sizeof(double));
    d->ref_r = dc_malloc((tr + 1) * sizeof(double));
    d->sim_c = dc_malloc((tc + 1) * sizeof(double));
    d->sim_r = dc_malloc((tr + 1) * sizeof(double));
    int rc = -1;
    // the per-token log-probs through the same call (and chunking) the summed ones came from
    if (sent_seq_logps(&t->ref, P->chosen, n, 32, sum, lc) != 0 ||
        sent_seq_logps(&t->ref, P->rejected, n, 32, sum, lr) != 0) {
        dc_fmt(err, cap, "out of memory computing per-token reference log-probabilities");
        goto out;
    }
    for (size_t j = 0; j < tc; j++)
        d->ref_c[j] = lc[j];
    for (size_t j = 0; j < tr; j++)
        d->ref_r[j] = lr[j];
    if (response_states(&t->ref, P->chosen, n, hc, err, cap) != 0 ||
        response_states(&t->ref, P->rejected, n, hr, err, cap) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        int nc = sent_seq_resp_len(&P->chosen[i]), nr = sent_seq_resp_len(&P->rejected[i]);
        const float *a = hc + (size_t)d->off_c[i] * C, *b = hr + (size_t)d->off_r[i] * C;
        max_cosine(a, nc, b, nr, C, d->sim_c + d->off_c[i]);
        max_cosine(b, nr, a, nc, C, d->sim_r + d->off_r[i]);
        sent_token_normalise(d->sim_c + d->off_c[i], nc, d->sim_r + d->off_r[i], nr);
    }
    rc = prepare_pair(t, err, cap);
out:
    free(lc);
    free(lr);
    free(sum);
    free(hc);
    free(hr);
    if (rc != 0) sent_token_free(d);
    return rc;
}

dc_status sent_token_step(const dc_task *t, const dc_objective *obj, const int *pairs, int n,
                          double beta, int Tb, const int *tg, const float *logp, float *dlogp,
                          double *loss, char *msg, size_t cap)
{
    const sent_token_data *d = &t->tok;
    int *ints = dc_malloc((size_t)4 * n * sizeof(int));
    int *off_c = ints, *off_r = ints + n, *len_c = ints + 2 * n, *len_r = ints + 3 * n;
    int tc = 0, tr = 0;
    for (int i = 0; i < n; i++) {
        off_c[i] = tc;
        off_r[i] = tr;
        len_c[i] = sent_seq_resp_len(&t->train_pairs.chosen[pairs[i]]);
        len_r[i] = sent_seq_resp_len(&t->train_pairs.rejected[pairs[i]]);
        tc += len_c[i];
        tr += len_r[i];
    }
    // six per-token arrays per side order: logps, ref, sim, d (chosen tc, rejected tr)
    double *buf = dc_malloc((size_t)4 * (tc + tr) * sizeof(double));
    double *pc = buf, *rfc = pc + tc, *sc = rfc + tc, *gc = sc + tc;
    double *pr = gc + tc, *rfr = pr + tr, *sr = rfr + tr, *gr = sr + tr;
    for (int k = 0; k < 2 * n; k++) {
        int side = k >= n, i = k % n, pair = pairs[i];
        int *off = side ? off_r : off_c, *len = side ? len_r : len_c;
        double *lp = side ? pr : pc, *ref = side ? rfr : rfc, *sim = side ? sr : sc;
        const double *dref = side ? d->ref_r + d->off_r[pair] : d->ref_c + d->off_c[pair];
        const double *dsim = side ? d->sim_r + d->off_r[pair] : d->sim_c + d->off_c[pair];
        int t2 = 0;
        for (int q = 0; q < Tb; q++)
            if (tg[k * Tb + q] >= 0 && t2 < len[i]) lp[off[i] + t2++] = logp[k * Tb + q];
        memcpy(ref + off[i], dref, (size_t)len[i] * sizeof(double));
        memcpy(sim + off[i], dsim, (size_t)len[i] * sizeof(double));
    }
    token_pref_batch b = {n, beta, off_c, off_r, len_c, len_r, pc, pr, rfc, rfr, sc, sr};
    dc_status st = obj->token(obj->ctx, &b, tc, tr, loss, gc, gr, msg, cap);
    if (st == DC_OK) {
        for (int i = 0; i < n; i++)
            if (!isfinite(loss[i])) st = DC_NONFINITE;
        for (int j = 0; j < tc; j++)
            if (!isfinite(gc[j])) st = DC_NONFINITE;
        for (int j = 0; j < tr; j++)
            if (!isfinite(gr[j])) st = DC_NONFINITE;
        if (st != DC_OK) dc_fmt(msg, cap, "the objective returned a non-finite loss or gradient");
    }
    if (st == DC_OK) // d(mean loss)/d logp of each response token
        for (int k = 0; k < 2 * n; k++) {
            int side = k >= n, i = k % n, t2 = 0;
            const double *g = side ? gr + off_r[i] : gc + off_c[i];
            int len = side ? len_r[i] : len_c[i];
            for (int q = 0; q < Tb; q++)
                dlogp[k * Tb + q] = tg[k * Tb + q] >= 0 && t2 < len ? (float)(g[t2++] / n) : 0.0f;
        }
    free(buf);
    free(ints);
    return st;
}
