/* po.c — preference optimisation of the policy with the candidate objective, and held-out
 * scoring (reward, KL to π_ref, preference accuracy, length), with drift curves. */
#include "sent_internal.h"

#include "gpt_ops.h"

#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double sent_fitness(double reward, double kl, double kl_penalty)
{
    return reward - kl_penalty * kl;
}


void sent_beta_name(double beta, char *buf, size_t cap) { snprintf(buf, cap, "%g", beta); }

int sent_score_prompts(const dc_task *t, gpt_model *policy, gpt_model *ref, const sent_seq *prompts,
                       int n, int samples, uint64_t seed, sent_score *out)
{
    int K = n * samples;
    memset(out, 0, sizeof *out);
    if (K == 0) return 0;
    sent_seq *rep = dc_calloc((size_t)K, sizeof *rep), *gen = dc_calloc((size_t)K, sizeof *gen);
    for (int i = 0; i < n; i++)
        for (int s = 0; s < samples; s++) rep[i * samples + s] = prompts[i];
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    int rc = -1;
    // log π of each sample comes with it (temperature 1: the policy's own distribution), so
    // the KL needs π_ref's forward passes only
    // (π = π_ref bit for bit, as at a run's first curve point: the KL is exactly 0)
    int want_kl = ref && !gpt_same_params(policy, ref);
    double *lp = want_kl ? dc_malloc((size_t)K * sizeof *lp) : NULL;
    if (sent_sample(policy, rep, K, SENT_SAMPLE_CHUNK, t->response_len, 1.0f, 0, &rng, gen,
                    lp) != 0)
        goto out;
    double rsum = 0, len = 0;
    for (int k = 0; k < K; k++) {
        rsum += sent_seq_reward(t->lex, t->vocab, &gen[k]);
        len += sent_seq_resp_len(&gen[k]);
    }
    out->reward = rsum / K;
    out->length = len / K;
    // KL(π‖π_ref) per token, estimated on the samples from π (π = π_ref: 0)
    if (want_kl && sent_seq_kl_given(lp, ref, gen, K, &out->kl) != 0) goto out;
    rc = 0;
out:
    free(lp);
    for (int k = 0; k < K; k++) sent_seq_free(&gen[k]);
    free(gen);
    free(rep);
    return rc;
}

/* Fraction of held-out pairs whose implicit reward margin
 * (log π − log π_ref)(y_w) − (log π − log π_ref)(y_l) is > 0 (β > 0 does not change the sign),
 * a tie counting one half: at π = π_ref every margin is exactly 0, so the policy starts at
 * 0.5 (chance), and the drift of this curve is how far training moved it from there. */
int sent_pref_accuracy(gpt_model *policy, const gpt_model *ref, const sent_pairs *p,
                       double *acc)
{
    *acc = 0;
    if (p->n == 0) return 0;
    // π = π_ref bit for bit: the log-probs are the cached ones, every margin exactly 0
    if (ref && gpt_same_params(policy, ref)) {
        *acc = 0.5;
        return 0;
    }
    double *c = malloc((size_t)p->n * sizeof *c), *r = malloc((size_t)p->n * sizeof *r);
    int rc = -1;
    if (c && r && sent_seq_logps(policy, p->chosen, p->n, 32, c, NULL) == 0 &&
        sent_seq_logps(policy, p->rejected, p->n, 32, r, NULL) == 0) {
        double good = 0;
        for (int i = 0; i < p->n; i++) {
            double margin = (c[i] - p->ref_chosen[i]) - (r[i] - p->ref_rejected[i]);
            good += margin > 0 ? 1.0 : margin == 0 ? 0.5 : 0.0;
        }
        *acc = good / p->n;
        rc = 0;
    }
    free(c);
    free(r);
    return rc;
}

static int all_finite(const double *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Trains `policy` (a copy of π_ref) with the objective at one β. Returns DC_OK or the failing
 * status with out->message / failed_step set. Adds the tokens the forward passes read
 * (padding excluded) to *tokens and the seconds spent in training steps (the drift-curve
 * probes excluded) to *secs. */
static dc_status train_beta(dc_task *t, gpt_model *policy, const dc_objective *obj, double beta,
                            const char *bname, int seed, const dc_progress *prog,
                            dc_task_result *out, double *tokens, double *secs)
{
    const sent_pairs *P = &t->train_pairs;
    int n = t->batch < P->n ? t->batch : P->n;
    int T = t->model.ctx;
    int *order = dc_malloc((size_t)P->n * sizeof(int));
    for (int i = 0; i < P->n; i++) order[i] = i;
    dc_rng rng;
    dc_rng_seed(&rng, (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)(beta * 1e6));
    dc_rng_shuffle_int(&rng, order, P->n);
    sent_seq *seqs = dc_malloc((size_t)2 * n * sizeof *seqs);
    int *in = malloc((size_t)2 * n * T * sizeof(int)), *tg = malloc((size_t)2 * n * T * sizeof(int));
    float *logp = malloc((size_t)2 * n * T * sizeof(float)), *dlogp = malloc((size_t)2 * n * T * sizeof(float));
    double *buf = dc_malloc((size_t)n * 9 * sizeof(double));
    int *picked = dc_malloc((size_t)n * sizeof(int)); /* the batch's pair indices */
    double *pc = buf, *pr = buf + n, *rc_ = buf + 2 * n, *rr = buf + 3 * n, *lc = buf + 4 * n,
           *lr = buf + 5 * n, *loss = buf + 6 * n, *dc = buf + 7 * n, *dr = buf + 8 * n;
    dc_status st = DC_OK;
    char curve[96];
    if (!in || !tg || !logp || !dlogp) {
        st = DC_ERROR;
        dc_fmt(out->message, sizeof out->message, "out of memory for preference batches");
        goto done;
    }
    int every = t->steps / (t->curve_points > 1 ? t->curve_points - 1 : 1);
    if (every < 1) every = 1;
    int ncurve = t->n_val < t->curve_prompts ? t->n_val : t->curve_prompts;
    int cursor = 0;
    for (int step = 0; step <= t->steps; step++) {
        if (step % every == 0 || step == t->steps) {
            sent_score s;
            if (sent_score_prompts(t, policy, &t->ref, t->val_prompts, ncurve, 1, 0xc0ffee, &s) == 0) {
                snprintf(curve, sizeof curve, "beta_%s/po/reward", bname);
                dc_curves_add(&out->curves, curve, step, s.reward);
                snprintf(curve, sizeof curve, "beta_%s/po/kl", bname);
                dc_curves_add(&out->curves, curve, step, s.kl);
                snprintf(curve, sizeof curve, "beta_%s/po/length", bname);
                dc_curves_add(&out->curves, curve, step, s.length);
            }
            // the preference the policy itself expresses on held-out pairs: how far the
            // objective re-weights chosen over rejected, apart from what sampling shows
            double acc;
            if (sent_pref_accuracy(policy, &t->ref, &t->val_pairs, &acc) == 0 && t->val_pairs.n > 0) {
                snprintf(curve, sizeof curve, "beta_%s/po/pref_accuracy", bname);
                dc_curves_add(&out->curves, curve, step, acc);
            }
        }
        if (step == t->steps) break;
        if (prog && prog->stop && *prog->stop) {
            st = DC_INTERRUPTED;
            out->failed_step = step;
            dc_fmt(out->message, sizeof out->message, "interrupted at step %d", step);
            goto done;
        }
        // the batch: n pairs in a shuffled order (reshuffled each pass)
        for (int i = 0; i < n; i++) {
            if (cursor == P->n) {
                dc_rng_shuffle_int(&rng, order, P->n);
                cursor = 0;
            }
            int j = order[cursor++];
            picked[i] = j;
            seqs[i] = P->chosen[j];
            seqs[n + i] = P->rejected[j];
            rc_[i] = P->ref_chosen[j];
            rr[i] = P->ref_rejected[j];
            lc[i] = sent_seq_resp_len(&P->chosen[j]);
            lr[i] = sent_seq_resp_len(&P->rejected[j]);
        }
        double ts = dc_now();
        for (int k = 0; k < 2 * n; k++) *tokens += seqs[k].len - 1;
        int Tb = sent_batch_build(seqs, 2 * n, 1, in, tg); // (2n, Tb): chosen rows, then rejected
        if (gpt_forward_scored(policy, in, tg, 2 * n, Tb, logp) != 0) {
            st = DC_ERROR;
            char why[700];
            if (sent_backend_failure(policy, why, sizeof why))
                dc_fmt(out->message, sizeof out->message, "step %d, forward pass: %s", step, why);
            else
                dc_fmt(out->message, sizeof out->message, "out of memory in the forward pass");
            goto done;
        }
        for (int k = 0; k < 2 * n; k++) {
            double acc = 0;
            for (int q = 0; q < Tb; q++)
                if (tg[k * Tb + q] >= 0) acc += logp[k * Tb + q];
            (k < n ? pc : pr)[k % n] = acc;
        }
        if (!all_finite(pc, n) || !all_finite(pr, n)) {
            st = DC_NONFINITE;
            out->failed_step = step;
            dc_fmt(out->message, sizeof out->message,
                   "training diverged at step %d (beta %s): the policy's log-probabilities are "
                   "not finite", step, bname);
            goto done;
        }
        pref_batch b = {n, beta, pc, pr, rc_, rr, lc, lr};
        char msg[400] = "";
        dc_status s = t->token_level ? sent_token_step(t, obj, picked, n, beta, Tb, tg, logp,
                                                       dlogp, loss, msg, sizeof msg)
                                     : obj->pref(obj->ctx, &b, loss, dc, dr, msg, sizeof msg);
        if (s != DC_OK) {
            st = s;
            out->failed_step = step;
            dc_fmt(out->message, sizeof out->message, "step %d (beta %s): %s", step, bname, msg);
            goto done;
        }
        if (!all_finite(loss, n) || (!t->token_level && (!all_finite(dc, n) || !all_finite(dr, n)))) {
            st = DC_NONFINITE;
            out->failed_step = step;
            dc_fmt(out->message, sizeof out->message,
                   "the objective returned a non-finite loss or gradient at training step %d "
                   "(beta %s)", step, bname);
            goto done;
        }
        // d(mean loss)/d logp of each response token = d(Σ loss)/d(seq logp) / n
        for (int k = 0; k < 2 * n && !t->token_level; k++) { // token level: sent_token_step did
            float g = (float)((k < n ? dc[k] : dr[k - n]) / n);
            for (int q = 0; q < Tb; q++) dlogp[k * Tb + q] = tg[k * Tb + q] >= 0 ? g : 0.0f;
        }
        char why[700];
        if (gpt_zero_grad(policy) != 0 || gpt_backward(policy, dlogp) != 0) {
            st = DC_ERROR;
            if (sent_backend_failure(policy, why, sizeof why))
                dc_fmt(out->message, sizeof out->message, "step %d, backward pass: %s", step, why);
            else
                dc_fmt(out->message, sizeof out->message, "out of memory in the backward pass");
            goto done;
        }
        gpt_adamw(policy, (float)t->lr, 0.9f, 0.999f, 1e-8f, 0.0f, 10.0f);
        if (sent_backend_failure(policy, why, sizeof why)) {
            st = DC_ERROR;
            dc_fmt(out->message, sizeof out->message, "step %d, AdamW: %s", step, why);
            goto done;
        }
        *secs += dc_now() - ts;
        double mean = 0;
        for (int i = 0; i < n; i++) mean += loss[i];
        mean /= n;
        snprintf(curve, sizeof curve, "beta_%s/po/loss", bname);
        dc_curves_add(&out->curves, curve, step, mean);
        if (prog && prog->on_step && (step % 5 == 0 || step == t->steps - 1))
            prog->on_step(prog->ctx, "train", step + 1, t->steps, mean);
    }
done:
    free(picked);
    free(order);
    free(seqs);
    free(in);
    free(tg);
    free(logp);
    free(dlogp);
    free(buf);
    return st;
}

void sent_add_drift(cJSON *m, const dc_curves *cv, const char *curve, const char *name)
{
    dc_drift d = dc_curve_drift(dc_curves_find(cv, curve));
    char key[160];
    // a cut key would file the number under another metric's name: skip it instead
    if (dc_fmt_exact(key, sizeof key, "%s_drift", name) == 0)
        cJSON_AddNumberToObject(m, key, d.magnitude);
    if (dc_fmt_exact(key, sizeof key, "%s_drift_time", name) == 0)
        cJSON_AddNumberToObject(m, key, d.drift_time);
}

/* The baselines' metrics and curves for `seed`: from the memo, or computed (best-of-N and
 * Transfer Q* on their own sample streams, PPO scored on the run's) and kept there. NULL
 * with out's status and message set when one failed. */
static const struct dc_sent_memo *baselines_for_seed(dc_task *t, int seed, uint64_t sv, uint64_t stt,
                                                     const dc_progress *prog, dc_task_result *out)
{
    for (int i = 0; i < t->n_base_memo; i++)
        if (t->base_memo[i].seed == seed) return &t->base_memo[i];
    cJSON *bm = cJSON_CreateObject();
    dc_curves cv = {0};
    if (!bm || sent_best_of_n(t, t->val_prompts, t->n_val, sv + 0x1000, 0, bm) != 0 ||
        sent_best_of_n(t, t->test_prompts, t->n_test, stt + 0x1000, 1, bm) != 0 ||
        sent_transfer_q(t, t->val_prompts, t->n_val, sv + 0x2000, bm) != 0) {
        cJSON_Delete(bm);
        out->status = DC_ERROR;
        dc_fmt(out->message, sizeof out->message,
               "out of memory in the decoding baselines (best-of-N, Transfer Q*)");
        return NULL;
    }
    char msg[400] = "";
    dc_status st = sent_ppo(t, seed, sv, stt, prog, bm, &cv, msg, sizeof msg);
    if (st != DC_OK) {
        cJSON_Delete(bm);
        dc_curves_free(&cv);
        out->status = st;
        dc_fmt(out->message, sizeof out->message, "the PPO baseline: %s", msg);
        return NULL;
    }
    int slot; // a small memo: campaigns use a handful of seeds
    if (t->n_base_memo < SENT_MEMO_SEEDS) {
        slot = t->n_base_memo++;
    } else {
        slot = seed & (SENT_MEMO_SEEDS - 1);
        cJSON_Delete(t->base_memo[slot].metrics);
        dc_curves_free(&t->base_memo[slot].curves);
    }
    t->base_memo[slot].seed = seed;
    t->base_memo[slot].metrics = bm;
    t->base_memo[slot].curves = cv;
    return &t->base_memo[slot];
}

void sent_run(dc_task *t, const dc_objective *obj, int seed, const dc_progress *prog,
              dc_task_result *out)
{
    double t0 = dc_now();
    if (!out->metrics) out->metrics = cJSON_CreateObject();
    if (!t->prepared || !obj || !(t->token_level ? obj->token != NULL : obj->pref != NULL)) {
        out->status = DC_ERROR;
        dc_fmt(out->message, sizeof out->message, "%s",
               !t->prepared     ? "sentiment: prepare() has not succeeded"
               : t->token_level ? "sentiment-token needs a token-level objective (token callback)"
                                : "sentiment needs a preference objective (pref callback)");
        return;
    }
    cJSON *m = out->metrics;
    // the backend that trains π_θ (π_ref's stages may come from the cache)
    cJSON_AddStringToObject(m, "backend", t->gops ? t->gops->base->name() : "cpu-openblas");
    // SFT-time curves are part of every run's record (value drift across post-training)
    dc_curves_append_all(&out->curves, &t->sft_curves, NULL);
    sent_add_drift(m, &t->sft_curves, "sft/reward", "sft_reward");
    sent_add_drift(m, &t->sft_curves, "sft/length", "sft_length");
    // scoring draws: one generator per (seed, prompt set), shared by π_ref and every policy so
    // that the comparison uses common random numbers
    uint64_t sv = 0x5eed0000ull + (uint64_t)seed * 2, stt = sv + 1;
    sent_score ref_v, ref_t;
    if (sent_score_prompts(t, &t->ref, NULL, t->val_prompts, t->n_val, t->eval_samples, sv, &ref_v) != 0 ||
        sent_score_prompts(t, &t->ref, NULL, t->test_prompts, t->n_test, t->eval_samples, stt, &ref_t) != 0) {
        out->status = DC_ERROR;
        dc_fmt(out->message, sizeof out->message, "out of memory scoring the reference policy");
        return;
    }
    cJSON_AddNumberToObject(m, "ref_reward", ref_v.reward);
    cJSON_AddNumberToObject(m, "ref_test_reward", ref_t.reward);
    cJSON_AddNumberToObject(m, "ref_length", ref_v.length);
    // the baselines (options bon, tq, ppo) on the same prompts, once per seed: every
    // candidate of a campaign shares them
    if (t->bon >= 2 || t->tq > 0 || t->ppo.steps > 0) {
        const struct dc_sent_memo *bm = baselines_for_seed(t, seed, sv, stt, prog, out);
        if (!bm) return;
        const cJSON *it;
        cJSON_ArrayForEach(it, bm->metrics) cJSON_AddNumberToObject(m, it->string, it->valuedouble);
        dc_curves_append_all(&out->curves, &bm->curves, NULL);
    }
    cJSON_AddNumberToObject(m, "pairs", t->train_pairs.n);
    double gap = 0;
    for (int i = 0; i < t->train_pairs.n; i++)
        gap += t->train_pairs.reward_chosen[i] - t->train_pairs.reward_rejected[i];
    cJSON_AddNumberToObject(m, "pair_reward_gap", t->train_pairs.n ? gap / t->train_pairs.n : 0);
    // sentiment-token: the held-out pair of the report's token-weight figure (token.c)
    if (t->token_level && t->tok.pair)
        cJSON_AddItemToObject(m, SENT_TOKEN_PAIR_METRIC, cJSON_Duplicate(t->tok.pair, 1));

    double fit = 0, test = 0, rew = 0, kl = 0, acc_sum = 0, tokens = 0, train_secs = 0;
    for (int bi = 0; bi < t->nbetas; bi++) {
        double beta = t->betas[bi];
        char bname[32], key[96], curve[96];
        sent_beta_name(beta, bname, sizeof bname);
        gpt_model policy;
        if (gpt_clone(&policy, &t->ref) != 0) {
            out->status = DC_ERROR;
            dc_fmt(out->message, sizeof out->message, "out of memory for the policy model");
            return;
        }
        // π_θ trains on the chosen backend; π_ref stays on the CPU (its log-probs are cached)
        char aerr[700];
        if (sent_attach(t, &policy, aerr, sizeof aerr) != 0) {
            gpt_free(&policy);
            out->status = DC_ERROR;
            dc_fmt(out->message, sizeof out->message, "%s", aerr);
            return;
        }
        dc_status st =
            train_beta(t, &policy, obj, beta, bname, seed, prog, out, &tokens, &train_secs);
        if (st != DC_OK) {
            out->status = st;
            gpt_free(&policy);
            out->seconds = dc_now() - t0;
            return;
        }
        if (prog && prog->on_step) prog->on_step(prog->ctx, "score", bi + 1, t->nbetas, 0.0);
        sent_score v, te;
        double acc = 0;
        if (sent_score_prompts(t, &policy, &t->ref, t->val_prompts, t->n_val, t->eval_samples, sv, &v) != 0 ||
            sent_score_prompts(t, &policy, &t->ref, t->test_prompts, t->n_test, t->eval_samples, stt, &te) != 0 ||
            sent_pref_accuracy(&policy, &t->ref, &t->val_pairs, &acc) != 0) {
            gpt_free(&policy);
            out->status = DC_ERROR;
            dc_fmt(out->message, sizeof out->message, "out of memory while scoring");
            return;
        }
        gpt_free(&policy);
        if (!isfinite(v.reward) || !isfinite(v.kl) || !isfinite(te.kl)) {
            out->status = DC_NONFINITE;
            dc_fmt(out->message, sizeof out->message,
                   "the trained policy (beta %s) gives non-finite scores", bname);
            out->seconds = dc_now() - t0;
            return;
        }
        struct {
            const char *name;
            double v;
        } per[] = {{"reward", v.reward},    {"kl", v.kl},           {"pref_accuracy", acc},
                   {"length", v.length},    {"test_reward", te.reward}, {"test_kl", te.kl},
                   {"fitness", sent_fitness(v.reward, v.kl, t->kl_penalty)}};
        for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) {
            snprintf(key, sizeof key, "beta_%s/%s", bname, per[i].name);
            cJSON_AddNumberToObject(m, key, per[i].v);
        }
        snprintf(curve, sizeof curve, "beta_%s/po/reward", bname);
        snprintf(key, sizeof key, "beta_%s/po_reward", bname);
        sent_add_drift(m, &out->curves, curve, key);
        snprintf(curve, sizeof curve, "beta_%s/po/kl", bname);
        snprintf(key, sizeof key, "beta_%s/po_kl", bname);
        sent_add_drift(m, &out->curves, curve, key);
        snprintf(curve, sizeof curve, "beta_%s/po/pref_accuracy", bname);
        snprintf(key, sizeof key, "beta_%s/po_pref_accuracy", bname);
        sent_add_drift(m, &out->curves, curve, key);
        snprintf(curve, sizeof curve, "beta_%s/po/length", bname);
        snprintf(key, sizeof key, "beta_%s/po_length", bname);
        sent_add_drift(m, &out->curves, curve, key);
        fit += sent_fitness(v.reward, v.kl, t->kl_penalty);
        test += sent_fitness(te.reward, te.kl, t->kl_penalty);
        rew += v.reward;
        kl += v.kl;
        acc_sum += acc;
    }
    int nb = t->nbetas;
    out->fitness = fit / nb;
    out->test_metric = test / nb;
    cJSON_AddNumberToObject(m, "reward", rew / nb);
    cJSON_AddNumberToObject(m, "kl", kl / nb);
    cJSON_AddNumberToObject(m, "pref_accuracy", acc_sum / nb);
    cJSON_AddNumberToObject(m, "train_tokens", tokens);
    cJSON_AddNumberToObject(m, "train_tokens_per_second", train_secs > 0 ? tokens / train_secs : 0);
    cJSON_AddNumberToObject(m, "fitness", out->fitness);
    cJSON_AddNumberToObject(m, "test_metric", out->test_metric);
    out->status = DC_OK;
    out->seconds = dc_now() - t0;
    cJSON_AddNumberToObject(m, "seconds", out->seconds);
}
