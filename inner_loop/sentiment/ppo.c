/* ppo.c — the PPO baseline of the sentiment task (ppo.h): its math, its value head and its
 * training loop from π_ref.
 *
 * The value head is linear on the policy's last hidden state (the final layernorm's output
 * at the position that predicts the token), the shape of TRL's value head. Unlike TRL's
 * shared-trunk model, the value loss does not train the transformer: gpt.h's backward pass
 * takes gradients of the log-probabilities only, and a second, critic transformer would
 * double the cost of every step on the CPU. The head therefore has its own Adam and
 * learning rate (vf_lr) instead of a value-loss coefficient, which with separate parameters
 * and Adam's scale invariance would change nothing. The policy trains on the CPU: the head
 * reads the hidden states from host memory, which an attached backend does not fill. */
#include "ppo.h"
#include "sent_internal.h"

#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the math ---- */

void ppo_gae(const double *r, const double *v, int n, double gamma, double lam, double *adv,
             double *ret)
{
    double next_v = 0, next_adv = 0; // nothing follows the last token
    for (int t = n - 1; t >= 0; t--) {
        double delta = r[t] + gamma * next_v - v[t];
        next_adv = delta + gamma * lam * next_adv;
        adv[t] = next_adv;
        ret[t] = next_adv + v[t];
        next_v = v[t];
    }
}

void ppo_whiten(double *x, int n)
{
    if (n < 1) return;
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    double s = n >= 2 ? 1.0 / sqrt(var + 1e-8) : 1.0;
    for (int i = 0; i < n; i++)
        x[i] = (x[i] - mean) * s;
}

double ppo_policy_loss(int n, const double *lp, const double *lp_old, const double *adv, double eps,
                       double *dlp, double *clipfrac)
{
    double sum = 0;
    int clipped = 0;
    for (int t = 0; t < n; t++) {
        double ratio = exp(lp[t] - lp_old[t]);
        double cr = fmin(fmax(ratio, 1.0 - eps), 1.0 + eps);
        double u = -adv[t] * ratio, c = -adv[t] * cr;
        // the larger (pessimistic) term; a tie takes the unclipped one, whose gradient is
        // the true one inside the clip range
        if (c > u) {
            sum += c;
            clipped++;
            if (dlp) dlp[t] = 0.0; // the clipped ratio is constant in lp
        } else {
            sum += u;
            if (dlp) dlp[t] = -adv[t] * ratio / n; // d ratio / d lp = ratio
        }
    }
    if (clipfrac) *clipfrac = n > 0 ? (double)clipped / n : 0.0;
    return n > 0 ? sum / n : 0.0;
}

double ppo_value_loss(int n, const double *v, const double *v_old, const double *ret, double eps,
                      double *dv)
{
    double sum = 0;
    for (int t = 0; t < n; t++) {
        double vc = v_old[t] + fmin(fmax(v[t] - v_old[t], -eps), eps);
        double a = (v[t] - ret[t]) * (v[t] - ret[t]), b = (vc - ret[t]) * (vc - ret[t]);
        if (b > a) { // only when v left the clip range: vc is constant in v there
            sum += b;
            if (dv) dv[t] = 0.0;
        } else {
            sum += a;
            if (dv) dv[t] = (v[t] - ret[t]) / n; // ½ · 2 (v − R) / n
        }
    }
    return n > 0 ? 0.5 * sum / n : 0.0;
}

/* ---- the value head: V(s) = w · h(s) + b on the last hidden state h ---- */

typedef struct {
    int C;
    double *w;       /* C weights, then the bias */
    double *g;       /* their gradient */
    double *m1, *m2; /* Adam moments */
    int t;
} value_head;

static void head_init(value_head *h, int C)
{
    h->C = C;
    h->w = dc_calloc((size_t)C + 1, sizeof(double)); // V = 0 until the bias is set
    h->g = dc_calloc((size_t)C + 1, sizeof(double));
    h->m1 = dc_calloc((size_t)C + 1, sizeof(double));
    h->m2 = dc_calloc((size_t)C + 1, sizeof(double));
    h->t = 0;
}

static void head_free(value_head *h)
{
    free(h->w);
    free(h->g);
    free(h->m1);
    free(h->m2);
}

static double head_value(const value_head *h, const float *feat)
{
    double s = h->w[h->C];
    for (int i = 0; i < h->C; i++)
        s += h->w[i] * feat[i];
    return s;
}

static void head_accumulate(value_head *h, const float *feat, double dv)
{
    for (int i = 0; i < h->C; i++)
        h->g[i] += dv * feat[i];
    h->g[h->C] += dv;
}

/* Adam (β 0.9 / 0.999, ε 1e-8) on the accumulated gradient, which it then zeroes. */
static void head_step(value_head *h, double lr)
{
    h->t++;
    double bc1 = 1 - pow(0.9, h->t), bc2 = 1 - pow(0.999, h->t);
    for (int i = 0; i <= h->C; i++) {
        h->m1[i] = 0.9 * h->m1[i] + 0.1 * h->g[i];
        h->m2[i] = 0.999 * h->m2[i] + 0.001 * h->g[i] * h->g[i];
        h->w[i] -= lr * (h->m1[i] / bc1) / (sqrt(h->m2[i] / bc2) + 1e-8);
        h->g[i] = 0;
    }
}

/* ---- one batch of rollouts ---- */

typedef struct {
    int B;         /* rollouts */
    sent_seq *seq; /* owned */
    int *off;      /* row k's first response token in the flat per-token arrays */
    int ntok;      /* response tokens in all */
    double *score; /* lexicon reward per rollout */
    /* per response token, the rows one after another */
    double *lp_old, *lp_ref, *v_old, *adv, *ret, *reward;
} rollouts;

static void rollouts_free(rollouts *ro)
{
    for (int k = 0; k < ro->B; k++)
        sent_seq_free(&ro->seq[k]);
    free(ro->seq);
    free(ro->off);
    free(ro->score);
    free(ro->lp_old);
    free(ro->lp_ref);
    free(ro->v_old);
    free(ro->adv);
    free(ro->ret);
    free(ro->reward);
    memset(ro, 0, sizeof *ro);
}

/* The work buffers of a forward pass over up to B rows of the context length. */
typedef struct {
    int *in, *tg;
    float *logp, *dlogp;
    sent_seq *rows;
    double *lp, *v, *dlp, *dv;
} ppo_work;

/* Forward of `m` over rows[0..n) (response tokens scored): the log-prob of each response
 * token into lp (flat, row after row) and, when head is non-NULL, V(s_t) into v.
 * Returns the padded length Tb, or -1 when the forward pass failed. */
static int forward_rows(gpt_model *m, const sent_seq *rows, int n, ppo_work *w,
                        const value_head *head, double *lp, double *v)
{
    int Tb = sent_batch_build(rows, n, 1, w->in, w->tg);
    if (gpt_forward(m, w->in, w->tg, n, Tb, w->logp) != 0) return -1;
    int C = m->cfg.width, o = 0;
    for (int k = 0; k < n; k++)
        for (int q = rows[k].plen - 1; q < rows[k].len - 1; q++, o++) {
            // position q predicts token q + 1; its hidden state is the state before it
            lp[o] = w->logp[(size_t)k * Tb + q];
            if (head) v[o] = head_value(head, m->a.lnf + ((size_t)k * Tb + q) * C);
        }
    return Tb;
}

static int stopped(const dc_progress *prog)
{
    return prog && prog->stop && *prog->stop;
}

/* Samples one batch from the policy on the next prompts and fills everything PPO needs
 * from it: scores, old log-probs and values, π_ref's log-probs, rewards, advantages and
 * returns. 0, or -1 (out of memory). */
static int collect(dc_task *t, gpt_model *policy, value_head *head, const sent_ppo_config *c,
                   const int *order, int *cursor, dc_rng *rng, ppo_work *w, rollouts *ro,
                   int first_batch)
{
    int B = c->batch;
    sent_seq *pr = dc_malloc((size_t)B * sizeof *pr);
    for (int k = 0; k < B; k++) {
        pr[k] = t->train_prompts[order[*cursor]];
        *cursor = (*cursor + 1) % t->n_train;
    }
    ro->B = B;
    ro->seq = dc_calloc((size_t)B, sizeof *ro->seq);
    int rc = sent_sample(policy, pr, B, SENT_SAMPLE_CHUNK, t->response_len, 1.0f, 0, rng, ro->seq,
                         NULL);
    free(pr);
    if (rc != 0) return -1;
    ro->off = dc_malloc((size_t)B * sizeof(int));
    ro->score = dc_malloc((size_t)B * sizeof(double));
    ro->ntok = 0;
    for (int k = 0; k < B; k++) {
        ro->off[k] = ro->ntok;
        ro->ntok += sent_seq_resp_len(&ro->seq[k]);
        ro->score[k] = sent_seq_reward(t->lex, t->vocab, &ro->seq[k]);
    }
    size_t nt = (size_t)ro->ntok + 1;
    ro->lp_old = dc_malloc(nt * sizeof(double));
    ro->lp_ref = dc_malloc(nt * sizeof(double));
    ro->v_old = dc_malloc(nt * sizeof(double));
    ro->adv = dc_malloc(nt * sizeof(double));
    ro->ret = dc_malloc(nt * sizeof(double));
    ro->reward = dc_malloc(nt * sizeof(double));
    if (forward_rows(policy, ro->seq, B, w, head, ro->lp_old, ro->v_old) < 0 ||
        forward_rows(&t->ref, ro->seq, B, w, NULL, ro->lp_ref, NULL) < 0)
        return -1;
    for (int k = 0; k < B; k++) {
        int o = ro->off[k], n = sent_seq_resp_len(&ro->seq[k]);
        for (int i = 0; i < n; i++)
            ro->reward[o + i] = -c->kl_coef * (ro->lp_old[o + i] - ro->lp_ref[o + i]);
        ro->reward[o + n - 1] += ro->score[k];
    }
    if (first_batch) {
        // the head starts at the first batch's mean return: with w = 0 it would start at 0,
        // and value clipping lets it move only vf_clip per batch towards returns near 0.5
        double mean = 0;
        for (int k = 0; k < B; k++) {
            int o = ro->off[k], n = sent_seq_resp_len(&ro->seq[k]);
            for (int i = 0; i < n; i++)
                mean += ro->reward[o + i];
        }
        head->w[head->C] = mean / B;
        for (int i = 0; i < ro->ntok; i++)
            ro->v_old[i] = head->w[head->C];
    }
    for (int k = 0; k < B; k++) {
        int o = ro->off[k], n = sent_seq_resp_len(&ro->seq[k]);
        ppo_gae(ro->reward + o, ro->v_old + o, n, c->gamma, c->lam, ro->adv + o, ro->ret + o);
    }
    ppo_whiten(ro->adv, ro->ntok); // TRL's PPOTrainer whitens the advantages over the batch
    return 0;
}

/* Scratch for one minibatch's per-token values, gathered from the batch's flat arrays. */
typedef struct {
    double *lp_old, *v_old, *adv, *ret;
} mb_view;

/* One optimizer step on rollouts rows[0..n) (indices into ro). Adds the losses and the
 * clip fraction to the sums. DC_OK, or the failure's status with a message. */
static dc_status update(gpt_model *policy, value_head *head, const sent_ppo_config *c,
                        const rollouts *ro, const int *idx, int n, ppo_work *w, mb_view *mv,
                        double *pg_sum, double *vf_sum, double *clip_sum, char *msg, size_t cap)
{
    int ntok = 0;
    for (int j = 0; j < n; j++) {
        const sent_seq *s = &ro->seq[idx[j]];
        w->rows[j] = *s;
        int o = ro->off[idx[j]], len = sent_seq_resp_len(s);
        memcpy(mv->lp_old + ntok, ro->lp_old + o, (size_t)len * sizeof(double));
        memcpy(mv->v_old + ntok, ro->v_old + o, (size_t)len * sizeof(double));
        memcpy(mv->adv + ntok, ro->adv + o, (size_t)len * sizeof(double));
        memcpy(mv->ret + ntok, ro->ret + o, (size_t)len * sizeof(double));
        ntok += len;
    }
    int Tb = forward_rows(policy, w->rows, n, w, head, w->lp, w->v);
    if (Tb < 0) {
        dc_fmt(msg, cap, "out of memory in a forward pass");
        return DC_ERROR;
    }
    double clipfrac;
    *pg_sum += ppo_policy_loss(ntok, w->lp, mv->lp_old, mv->adv, c->clip, w->dlp, &clipfrac);
    *vf_sum += ppo_value_loss(ntok, w->v, mv->v_old, mv->ret, c->vf_clip, w->dv);
    *clip_sum += clipfrac;
    for (int i = 0; i < ntok; i++)
        if (!isfinite(w->lp[i]) || !isfinite(w->dlp[i]) || !isfinite(w->v[i])) {
            dc_fmt(msg, cap, "the policy's log-probabilities or values are not finite");
            return DC_NONFINITE;
        }
    // the policy's gradient per position; the head's from the same positions' hidden states
    int C = policy->cfg.width, o = 0;
    for (int k = 0; k < n * Tb; k++)
        w->dlogp[k] = 0.0f;
    for (int j = 0; j < n; j++)
        for (int q = w->rows[j].plen - 1; q < w->rows[j].len - 1; q++, o++) {
            w->dlogp[(size_t)j * Tb + q] = (float)w->dlp[o];
            head_accumulate(head, policy->a.lnf + ((size_t)j * Tb + q) * C, w->dv[o]);
        }
    if (gpt_zero_grad(policy) != 0 || gpt_backward(policy, w->dlogp) != 0) {
        dc_fmt(msg, cap, "out of memory in the backward pass");
        return DC_ERROR;
    }
    // AdamW without weight decay, gradient norm clipped at 1 (TRL's max_grad_norm)
    gpt_adamw(policy, (float)c->lr, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f);
    head_step(head, c->vf_lr);
    return DC_OK;
}

/* The drift-curve probe (as po.c's): reward, KL and length of samples on the first
 * curve_prompts validation prompts, and held-out preference accuracy, at iteration `it`. */
static void curve_point(dc_task *t, gpt_model *policy, int it, dc_curves *cv)
{
    int n = t->n_val < t->curve_prompts ? t->n_val : t->curve_prompts;
    sent_score s;
    if (sent_score_prompts(t, policy, &t->ref, t->val_prompts, n, 1, 0xc0ffee, &s) == 0) {
        dc_curves_add(cv, "ppo/po/reward", it, s.reward);
        dc_curves_add(cv, "ppo/po/kl", it, s.kl);
        dc_curves_add(cv, "ppo/po/length", it, s.length);
    }
    double acc;
    if (t->val_pairs.n > 0 && sent_pref_accuracy(policy, &t->ref, &t->val_pairs, &acc) == 0)
        dc_curves_add(cv, "ppo/po/pref_accuracy", it, acc);
}

dc_status sent_ppo(dc_task *t, int seed, uint64_t val_seed, uint64_t test_seed,
                   const dc_progress *prog, cJSON *m, dc_curves *cv, char *msg, size_t cap)
{
    const sent_ppo_config *c = &t->ppo;
    if (c->steps < 1) return DC_OK;
    if (t->n_train < 1) {
        dc_fmt(msg, cap, "PPO: no training prompts");
        return DC_ERROR;
    }
    double t0 = dc_now();
    gpt_model policy;
    if (gpt_clone(&policy, &t->ref) != 0) {
        dc_fmt(msg, cap, "PPO: out of memory for the policy");
        return DC_ERROR;
    }
    value_head head;
    head_init(&head, policy.cfg.width);
    int B = c->batch, T = t->model.ctx;
    int mbs = c->minibatches < B ? c->minibatches : B;
    ppo_work w;
    size_t cells = (size_t)B * T, toks = (size_t)B * T + 1;
    w.in = dc_malloc(cells * sizeof(int));
    w.tg = dc_malloc(cells * sizeof(int));
    w.logp = dc_malloc(cells * sizeof(float));
    w.dlogp = dc_malloc(cells * sizeof(float));
    w.rows = dc_malloc((size_t)B * sizeof(sent_seq));
    w.lp = dc_malloc(toks * sizeof(double));
    w.v = dc_malloc(toks * sizeof(double));
    w.dlp = dc_malloc(toks * sizeof(double));
    w.dv = dc_malloc(toks * sizeof(double));
    mb_view mv = {dc_malloc(toks * sizeof(double)), dc_malloc(toks * sizeof(double)),
                  dc_malloc(toks * sizeof(double)), dc_malloc(toks * sizeof(double))};
    int *order = dc_malloc((size_t)t->n_train * sizeof(int)),
        *perm = dc_malloc((size_t)B * sizeof(int));
    for (int i = 0; i < t->n_train; i++)
        order[i] = i;
    dc_rng rng;
    dc_rng_seed(&rng, (uint64_t)seed * 0x9E3779B97F4A7C15ull + 0x990);
    dc_rng_shuffle_int(&rng, order, t->n_train);
    int cursor = 0;
    int every = c->steps / (t->curve_points > 1 ? t->curve_points - 1 : 1);
    if (every < 1) every = 1;
    dc_status st = DC_OK;
    for (int it = 0; it <= c->steps; it++) {
        if (it % every == 0 || it == c->steps) curve_point(t, &policy, it, cv);
        if (it == c->steps) break;
        if (stopped(prog)) {
            st = DC_INTERRUPTED;
            dc_fmt(msg, cap, "PPO interrupted at iteration %d", it);
            break;
        }
        rollouts ro = {0};
        if (collect(t, &policy, &head, c, order, &cursor, &rng, &w, &ro, it == 0) != 0) {
            rollouts_free(&ro);
            st = DC_ERROR;
            dc_fmt(msg, cap, "PPO: out of memory collecting rollouts");
            break;
        }
        double score = 0, kl = 0;
        for (int k = 0; k < B; k++)
            score += ro.score[k];
        for (int i = 0; i < ro.ntok; i++)
            kl += ro.lp_old[i] - ro.lp_ref[i];
        double pg = 0, vf = 0, clipf = 0;
        int nupd = 0;
        for (int e = 0; e < c->epochs && st == DC_OK; e++) {
            for (int k = 0; k < B; k++)
                perm[k] = k;
            dc_rng_shuffle_int(&rng, perm, B);
            for (int mb = 0; mb < mbs && st == DC_OK; mb++) {
                int lo = mb * B / mbs, hi = (mb + 1) * B / mbs;
                char why[256];
                st = update(&policy, &head, c, &ro, perm + lo, hi - lo, &w, &mv, &pg, &vf, &clipf,
                            why, sizeof why);
                if (st != DC_OK) dc_fmt(msg, cap, "PPO iteration %d: %s", it, why);
                nupd++;
            }
        }
        int ntok = ro.ntok;
        rollouts_free(&ro);
        if (st != DC_OK) break;
        dc_curves_add(cv, "ppo/rollout_score", it, score / B);
        dc_curves_add(cv, "ppo/rollout_kl", it, ntok > 0 ? kl / ntok : 0.0); // per token, k1
        dc_curves_add(cv, "ppo/value_loss", it, vf / nupd);
        dc_curves_add(cv, "ppo/clipfrac", it, clipf / nupd);
        if (prog && prog->on_step) prog->on_step(prog->ctx, "ppo", it + 1, c->steps, score / B);
    }
    if (st == DC_OK) {
        // scored as every policy is: the same prompts and sample streams as π_ref and the
        // trained candidates (common random numbers)
        sent_score v, te;
        double acc = 0;
        if (sent_score_prompts(t, &policy, &t->ref, t->val_prompts, t->n_val, t->eval_samples,
                               val_seed, &v) != 0 ||
            sent_score_prompts(t, &policy, &t->ref, t->test_prompts, t->n_test, t->eval_samples,
                               test_seed, &te) != 0 ||
            sent_pref_accuracy(&policy, &t->ref, &t->val_pairs, &acc) != 0) {
            st = DC_ERROR;
            dc_fmt(msg, cap, "PPO: out of memory while scoring");
        } else if (!isfinite(v.reward) || !isfinite(v.kl)) {
            st = DC_NONFINITE;
            dc_fmt(msg, cap, "PPO: the trained policy gives non-finite scores");
        } else {
            cJSON_AddNumberToObject(m, "ppo/reward", v.reward);
            cJSON_AddNumberToObject(m, "ppo/kl", v.kl);
            cJSON_AddNumberToObject(m, "ppo/length", v.length);
            cJSON_AddNumberToObject(m, "ppo/test_reward", te.reward);
            cJSON_AddNumberToObject(m, "ppo/test_kl", te.kl);
            cJSON_AddNumberToObject(m, "ppo/pref_accuracy", acc);
            cJSON_AddNumberToObject(m, "ppo/kl_coef", c->kl_coef);
            sent_add_drift(m, cv, "ppo/po/reward", "ppo/po_reward");
            sent_add_drift(m, cv, "ppo/po/length", "ppo/po_length");
            sent_add_drift(m, cv, "ppo/po/kl", "ppo/po_kl");
            sent_add_drift(m, cv, "ppo/po/pref_accuracy", "ppo/po_pref_accuracy");
            cJSON_AddNumberToObject(m, "ppo/seconds", dc_now() - t0);
        }
    }
    free(order);
    free(perm);
    free(w.in);
    free(w.tg);
    free(w.logp);
    free(w.dlogp);
    free(w.rows);
    free(w.lp);
    free(w.v);
    free(w.dlp);
    free(w.dv);
    free(mv.lp_old);
    free(mv.v_old);
    free(mv.adv);
    free(mv.ret);
    head_free(&head);
    gpt_free(&policy);
    return st;
}
