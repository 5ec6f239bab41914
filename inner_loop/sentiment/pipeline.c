/* pipeline.c — the cached stages of the sentiment task: vocabulary → pretrain → SFT (π_ref)
 * → pairs. Each stage's cache key hashes its own configuration and the key of the stage
 * before; the first hashes the data and the vocabulary's word list. */
#include "cache.h"
#include "sent_internal.h"

#include "gpt_ops.h"

#include "common/paths.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STAGE_PRETRAIN = 1, STAGE_SFT = 2, STAGE_PAIRS = 3 };

void sent_pairs_free(sent_pairs *p)
{
    for (int i = 0; i < p->n; i++) {
        sent_seq_free(&p->chosen[i]);
        sent_seq_free(&p->rejected[i]);
    }
    free(p->chosen);
    free(p->rejected);
    free(p->ref_chosen);
    free(p->ref_rejected);
    free(p->reward_chosen);
    free(p->reward_rejected);
    memset(p, 0, sizeof *p);
}

static void report(const dc_progress *prog, const char *phase, int step, int total, double loss)
{
    if (prog && prog->on_step) prog->on_step(prog->ctx, phase, step, total, loss);
}

static int stopped(const dc_progress *prog) { return prog && prog->stop && *prog->stop; }

static uint64_t hash_str(uint64_t h, const char *s) { return dc_hash64(s, strlen(s), h); }

/* ---- (de)serialisation ---- */

static void put_model(sent_buf *b, const gpt_model *m)
{
    const gpt_config *c = &m->cfg;
    sent_buf_u32(b, (uint32_t)c->vocab);
    sent_buf_u32(b, (uint32_t)c->ctx);
    sent_buf_u32(b, (uint32_t)c->layers);
    sent_buf_u32(b, (uint32_t)c->width);
    sent_buf_u32(b, (uint32_t)c->heads);
    sent_buf_put(b, m->params_mem, m->nparams * sizeof(float));
}

static int get_model(sent_reader *r, const gpt_config *want, gpt_model *m)
{
    gpt_config c;
    c.vocab = (int)sent_read_u32(r);
    c.ctx = (int)sent_read_u32(r);
    c.layers = (int)sent_read_u32(r);
    c.width = (int)sent_read_u32(r);
    c.heads = (int)sent_read_u32(r);
    if (r->bad || memcmp(&c, want, sizeof c) != 0) return -1;
    if (gpt_init(m, &c, 0) != 0) return -1;
    sent_read(r, m->params_mem, m->nparams * sizeof(float));
    if (r->bad) {
        gpt_free(m);
        return -1;
    }
    return 0;
}

static void put_curves(sent_buf *b, const dc_curves *cv)
{
    sent_buf_u32(b, (uint32_t)cv->len);
    for (int i = 0; i < cv->len; i++) {
        sent_buf_put(b, cv->items[i].metric, sizeof cv->items[i].metric);
        sent_buf_u32(b, (uint32_t)cv->items[i].len);
        for (int j = 0; j < cv->items[i].len; j++) {
            sent_buf_u32(b, (uint32_t)cv->items[i].step[j]);
            sent_buf_f64(b, cv->items[i].value[j]);
        }
    }
}

static void get_curves(sent_reader *r, dc_curves *cv)
{
    uint32_t n = sent_read_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        char name[48];
        sent_read(r, name, sizeof name);
        name[sizeof name - 1] = '\0';
        uint32_t len = sent_read_u32(r);
        for (uint32_t j = 0; j < len && !r->bad; j++) {
            int step = (int)sent_read_u32(r);
            double v = sent_read_f64(r);
            dc_curves_add(cv, name, step, v);
        }
    }
}

static void put_seq(sent_buf *b, const sent_seq *s)
{
    sent_buf_u32(b, (uint32_t)s->len);
    sent_buf_u32(b, (uint32_t)s->plen);
    for (int i = 0; i < s->len; i++) {
        uint16_t v = (uint16_t)s->tok[i];
        sent_buf_put(b, &v, sizeof v);
    }
}

static void get_seq(sent_reader *r, int ctx, int vocab, sent_seq *s)
{
    s->len = (int)sent_read_u32(r);
    s->plen = (int)sent_read_u32(r);
    if (r->bad || s->len < 1 || s->len > ctx + 1 || s->plen < 1 || s->plen > s->len) {
        r->bad = 1;
        s->len = s->plen = 0;
        s->tok = NULL;
        return;
    }
    s->tok = dc_malloc((size_t)s->len * sizeof(int));
    for (int i = 0; i < s->len; i++) {
        uint16_t v = 0;
        sent_read(r, &v, sizeof v);
        if (v >= vocab) r->bad = 1; // written with another vocabulary
        s->tok[i] = v < vocab ? v : GPT_EOT;
    }
}

static void put_pairs(sent_buf *b, const sent_pairs *p)
{
    sent_buf_u32(b, (uint32_t)p->n);
    for (int i = 0; i < p->n; i++) {
        put_seq(b, &p->chosen[i]);
        put_seq(b, &p->rejected[i]);
        sent_buf_f64(b, p->ref_chosen[i]);
        sent_buf_f64(b, p->ref_rejected[i]);
        sent_buf_f64(b, p->reward_chosen[i]);
        sent_buf_f64(b, p->reward_rejected[i]);
    }
}

static void pairs_alloc(sent_pairs *p, int n)
{
    p->n = n;
    size_t k = n > 0 ? (size_t)n : 1;
    p->chosen = dc_calloc(k, sizeof *p->chosen);
    p->rejected = dc_calloc(k, sizeof *p->rejected);
    p->ref_chosen = dc_calloc(k, sizeof(double));
    p->ref_rejected = dc_calloc(k, sizeof(double));
    p->reward_chosen = dc_calloc(k, sizeof(double));
    p->reward_rejected = dc_calloc(k, sizeof(double));
}

static void get_pairs(sent_reader *r, int ctx, int vocab, sent_pairs *p)
{
    uint32_t n = sent_read_u32(r);
    if (r->bad || n > 10000000u) {
        r->bad = 1;
        return;
    }
    pairs_alloc(p, (int)n);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        get_seq(r, ctx, vocab, &p->chosen[i]);
        get_seq(r, ctx, vocab, &p->rejected[i]);
        p->ref_chosen[i] = sent_read_f64(r);
        p->ref_rejected[i] = sent_read_f64(r);
        p->reward_chosen[i] = sent_read_f64(r);
        p->reward_rejected[i] = sent_read_f64(r);
    }
}

/* ---- prompts ---- */

/* BOS + the first prompt_words tokens of the sentence (cut to leave room for the response). */
static void make_prompt(const dc_task *t, const char *text, sent_seq *s)
{
    int maxw = t->model.ctx - t->response_len - 1; // room for BOS + response
    if (maxw > t->prompt_words) maxw = t->prompt_words;
    if (maxw < 0) maxw = 0;
    s->tok = dc_malloc((size_t)(maxw + 1) * sizeof(int));
    s->tok[0] = GPT_EOT;
    int n = sent_vocab_encode(t->vocab, text, strlen(text), s->tok + 1, maxw);
    s->len = s->plen = n + 1;
}

/* Tokens of text appended to a growable corpus, then end-of-text. */
static void corpus_add(const sent_vocab *v, const char *text, size_t len, uint16_t **c,
                       size_t *n, size_t *cap)
{
    int *ids = dc_malloc((len + 1) * sizeof(int)); // never more tokens than bytes
    int k = sent_vocab_encode(v, text, len, ids, (int)len + 1);
    if (*n + (size_t)k + 1 > *cap) {
        while (*n + (size_t)k + 1 > *cap) *cap = *cap ? *cap * 2 : 1 << 16;
        *c = dc_realloc(*c, *cap * sizeof **c);
    }
    for (int i = 0; i < k; i++) (*c)[(*n)++] = (uint16_t)ids[i];
    (*c)[(*n)++] = GPT_EOT;
    free(ids);
}

/* ---- training loops ---- */

/* <unk> is never a training target: the language model then (almost) never writes it, so
 * its samples are real words the reward can read, and a policy cannot escape towards
 * neutral-scoring <unk> runs. It stays an input (unseen words in prompts). */
static int unk_free(int target) { return target == SENT_TOK_UNK ? -1 : target; }

/* The drift curves' probe: reward and length of samples (temperature 1) on the first
 * curve_prompts validation prompts, recorded at `step` as sft/reward and sft/length. */
static void sft_curve_point(dc_task *t, gpt_model *m, int step)
{
    int n = t->n_val < t->curve_prompts ? t->n_val : t->curve_prompts;
    sent_score s;
    if (n == 0 || sent_score_prompts(t, m, NULL, t->val_prompts, n, 1, 0xc0ffee, &s) != 0)
        s.reward = s.length = NAN;
    dc_curves_add(&t->sft_curves, "sft/reward", step, s.reward);
    dc_curves_add(&t->sft_curves, "sft/length", step, s.length);
}

int sent_attach(const dc_task *t, gpt_model *m, char *err, size_t errcap)
{
    if (m->dev || !t->gops || t->gops == gpt_ops_cpu()) return 0;
    return gpt_attach(m, t->gops, err, errcap);
}

int sent_backend_failure(const gpt_model *m, char *buf, size_t cap)
{
    char why[512];
    if (!gpt_device_error(m, why, sizeof why)) return 0;
    dc_fmt(buf, cap, "the %s backend failed: %s", gpt_backend_name(m), why);
    return 1;
}

static int pretrain(dc_task *t, const uint8_t *fort, size_t flen, const sent_reviews *rv,
                    const dc_progress *prog, char *err, size_t errcap)
{
    if (sent_attach(t, &t->ref, err, errcap) != 0) return -1;
    // corpus tokens: fortunes entries and held-in sentences, each followed by end-of-text
    uint16_t *corpus = NULL;
    size_t n = 0, cap = 0;
    for (size_t s = 0, i = 0; i <= flen; i++)
        if (i == flen || fort[i] == 0) { // entries are separated by 0 bytes
            if (i > s) corpus_add(t->vocab, (const char *)fort + s, i - s, &corpus, &n, &cap);
            s = i + 1;
        }
    for (int i = 0; i < rv->n; i++) {
        if (sent_is_held_out(rv->items[i].text)) continue;
        corpus_add(t->vocab, rv->items[i].text, strlen(rv->items[i].text), &corpus, &n, &cap);
    }
    int B = t->lm_batch, T = t->model.ctx;
    if (n < (size_t)T + 2) {
        free(corpus);
        dc_fmt(err, errcap, "the pretraining corpus has only %zu tokens; check fortunes_dir", n);
        return -1;
    }
    int *in = malloc((size_t)B * T * sizeof(int)), *tg = malloc((size_t)B * T * sizeof(int));
    dc_rng rng;
    dc_rng_seed(&rng, 0x9e7);
    int rc = 0;
    for (int step = 0; step < t->pretrain_steps && in && tg; step++) {
        if (stopped(prog)) {
            dc_fmt(err, errcap, "interrupted during pretraining");
            rc = -1;
            break;
        }
        for (int b = 0; b < B; b++) {
            size_t s = dc_rng_below(&rng, (uint32_t)(n - (size_t)T - 1));
            for (int i = 0; i < T; i++) {
                in[b * T + i] = corpus[s + i];
                tg[b * T + i] = unk_free(corpus[s + i + 1]);
            }
        }
        float loss = sent_lm_step(&t->ref, in, tg, B, T,
                                  sent_lr_at((float)t->pretrain_lr, step, t->pretrain_steps));
        if (!isfinite(loss)) {
            char why[700];
            if (sent_backend_failure(&t->ref, why, sizeof why))
                dc_fmt(err, errcap, "pretraining step %d: %s", step, why);
            else
                dc_fmt(err, errcap, "pretraining diverged at step %d (loss %g); lower pretrain_lr",
                       step, loss);
            rc = -1;
            break;
        }
        if (step % 10 == 0 || step == t->pretrain_steps - 1) {
            report(prog, "pretrain", step + 1, t->pretrain_steps, loss);
            dc_curves_add(&t->sft_curves, "pretrain/loss", step, loss);
        }
    }
    if (!in || !tg) {
        dc_fmt(err, errcap, "out of memory for pretraining batches");
        rc = -1;
    }
    char why[700];
    if (rc == 0 && sent_backend_failure(&t->ref, why, sizeof why)) { // e.g. the last step
        dc_fmt(err, errcap, "pretraining: %s", why);
        rc = -1;
    }
    free(in);
    free(tg);
    free(corpus);
    return rc;
}

static int sft(dc_task *t, const sent_reviews *rv, const dc_progress *prog, char *err,
               size_t errcap)
{
    // SFT continues pretraining's optimizer when both ran here (attach is then a no-op)
    if (sent_attach(t, &t->ref, err, errcap) != 0) return -1;
    int T = t->model.ctx, B = t->lm_batch;
    int *idx = dc_malloc((size_t)rv->n * sizeof(int)), n = 0;
    for (int i = 0; i < rv->n; i++)
        if (!sent_is_held_out(rv->items[i].text)) idx[n++] = i;
    int *in = dc_malloc((size_t)B * T * sizeof(int)), *tg = dc_malloc((size_t)B * T * sizeof(int));
    sent_seq *seqs = dc_calloc((size_t)B, sizeof *seqs);
    for (int b = 0; b < B; b++) seqs[b].tok = dc_malloc((size_t)(T + 1) * sizeof(int));
    dc_rng rng;
    dc_rng_seed(&rng, 0x5f7);
    int every = t->sft_steps / (t->curve_points > 1 ? t->curve_points - 1 : 1);
    if (every < 1) every = 1;
    sft_curve_point(t, &t->ref, 0);
    int rc = 0;
    for (int step = 0; step < t->sft_steps; step++) {
        if (stopped(prog)) {
            dc_fmt(err, errcap, "interrupted during SFT");
            rc = -1;
            break;
        }
        for (int b = 0; b < B; b++) {
            const char *s = rv->items[idx[dc_rng_below(&rng, (uint32_t)n)]].text;
            int L = 1;
            seqs[b].tok[0] = GPT_EOT;
            L += sent_vocab_encode(t->vocab, s, strlen(s), seqs[b].tok + 1, T - 1);
            seqs[b].tok[L++] = GPT_EOT; // L <= T + 1
            seqs[b].len = L;
            seqs[b].plen = 1;
        }
        int Tb = sent_batch_build(seqs, B, 0, in, tg);
        for (int i = 0; i < B * Tb; i++) tg[i] = unk_free(tg[i]);
        float loss = sent_lm_step(&t->ref, in, tg, B, Tb,
                                  sent_lr_at((float)t->sft_lr, step, t->sft_steps));
        if (!isfinite(loss)) {
            char why[700];
            if (sent_backend_failure(&t->ref, why, sizeof why))
                dc_fmt(err, errcap, "SFT step %d: %s", step, why);
            else
                dc_fmt(err, errcap, "SFT diverged at step %d; lower sft_lr", step);
            rc = -1;
            break;
        }
        if (step % 10 == 0 || step == t->sft_steps - 1) {
            report(prog, "sft", step + 1, t->sft_steps, loss);
            dc_curves_add(&t->sft_curves, "sft/loss", step, loss);
        }
        if ((step + 1) % every == 0 || step == t->sft_steps - 1) {
            const dc_curve *c = dc_curves_find(&t->sft_curves, "sft/reward");
            if (!c || c->step[c->len - 1] != step + 1)
                sft_curve_point(t, &t->ref, step + 1);
        }
    }
    char why[700];
    if (rc == 0 && sent_backend_failure(&t->ref, why, sizeof why)) { // e.g. the last step
        dc_fmt(err, errcap, "SFT: %s", why);
        rc = -1;
    }
    for (int b = 0; b < B; b++) sent_seq_free(&seqs[b]);
    free(seqs);
    free(idx);
    free(in);
    free(tg);
    return rc;
}

/* Samples `samples` completions per prompt from π_ref; best vs worst reward becomes a pair
 * when the gap is ≥ t->gap (and > 0: a tie states no preference). */
static int make_pairs(dc_task *t, const sent_seq *prompts, int np, uint64_t seed,
                      const dc_progress *prog, const char *phase, sent_pairs *out, char *err,
                      size_t errcap)
{
    int S = t->samples;
    sent_seq *rep = dc_calloc((size_t)np * S, sizeof *rep), *gen = dc_calloc((size_t)np * S, sizeof *gen);
    for (int i = 0; i < np; i++)
        for (int s = 0; s < S; s++) rep[i * S + s] = prompts[i];
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    int rc = -1;
    // blocks of 16 chunks between progress reports: the GPT's threads sample a block's
    // chunks side by side (the samples are those of one call over everything)
    const int chunk = SENT_SAMPLE_CHUNK, block = 16 * SENT_SAMPLE_CHUNK;
    for (int k0 = 0; k0 < np * S; k0 += block) {
        int n = np * S - k0 < block ? np * S - k0 : block;
        if (sent_sample(&t->ref, rep + k0, n, chunk, t->response_len, (float)t->temperature, 0,
                        &rng, gen + k0, NULL) != 0) {
            dc_fmt(err, errcap, "out of memory sampling preference pairs");
            goto out;
        }
        report(prog, phase, k0 + n, np * S, 0.0);
        if (stopped(prog)) {
            dc_fmt(err, errcap, "interrupted while sampling preference pairs");
            goto out;
        }
    }
    pairs_alloc(out, np);
    int n = 0;
    for (int i = 0; i < np; i++) {
        int best = -1, worst = -1;
        double rb = -1, rw = 2;
        for (int s = 0; s < S; s++) {
            double r = sent_seq_reward(t->lex, t->vocab, &gen[i * S + s]);
            if (r > rb) rb = r, best = s;
            if (r < rw) rw = r, worst = s;
        }
        if (best < 0 || worst < 0 || !(rb - rw > 0) || rb - rw < t->gap) continue;
        out->chosen[n] = gen[i * S + best];
        out->rejected[n] = gen[i * S + worst];
        memset(&gen[i * S + best], 0, sizeof(sent_seq));
        memset(&gen[i * S + worst], 0, sizeof(sent_seq));
        out->reward_chosen[n] = rb;
        out->reward_rejected[n] = rw;
        n++;
    }
    out->n = n;
    if (n > 0 && (sent_seq_logps(&t->ref, out->chosen, n, 32, out->ref_chosen, NULL) != 0 ||
                  sent_seq_logps(&t->ref, out->rejected, n, 32, out->ref_rejected, NULL) != 0)) {
        dc_fmt(err, errcap, "out of memory scoring preference pairs");
        goto out;
    }
    rc = 0;
out:
    for (int k = 0; k < np * S; k++) sent_seq_free(&gen[k]);
    free(gen);
    free(rep);
    return rc;
}

/* ---- the stages with their caches ---- */

/* The vocabulary: held-in review sentences count REVIEW_WEIGHT times, so the words the
 * policy writes reviews with come first; fortunes fill the rest. Held-out sentences are
 * never read here (their words may be <unk>, as for any unseen text). */
#define REVIEW_WEIGHT 8
static void build_vocab(dc_task *t, const sent_reviews *rv, const uint8_t *fort, size_t flen)
{
    sent_vocab_counter *c = sent_vocab_counter_new();
    for (int i = 0; i < rv->n; i++)
        if (!sent_is_held_out(rv->items[i].text))
            sent_vocab_count(c, rv->items[i].text, strlen(rv->items[i].text), REVIEW_WEIGHT);
    sent_vocab_count(c, (const char *)fort, flen, 1); // entries: 0-separated
    t->vocab = sent_vocab_finish(c, t->vocab_size);
}

static void warn_rebuild(const char *why)
{
    fprintf(stderr, "sentiment: %s; rebuilding it\n", why);
}

/* ---- the cached stages: pretrain → SFT (π_ref) → pairs ----
 *
 * Each stage is read from the cache when its key matches and its payload parses; otherwise
 * (with a warning when a file was there but unusable) it is built and written back. */

typedef struct {
    const uint8_t *fort; /* the fortunes corpus */
    size_t flen;
    const sent_reviews *rv;
    const dc_progress *prog;
    gpt_config mc; /* the configured model */
} stage_inputs;

typedef struct {
    const char *name; /* cache file prefix: "pretrain" */
    int id;           /* STAGE_* of cache.h */
    int built_bit;    /* its bit in t->stages_built */
    /* Takes a cached payload into t; 0, or -1 with why (t keeps nothing of it). */
    int (*load)(dc_task *t, sent_reader *r, const stage_inputs *in, const char *path, char *why,
                size_t cap);
    /* Builds the stage; 0, or -1 with err. */
    int (*build)(dc_task *t, const stage_inputs *in, char *err, size_t errcap);
    /* What goes into the cache. */
    void (*save)(const dc_task *t, sent_buf *b);
} sent_stage;

static int run_stage(dc_task *t, const sent_stage *st, uint64_t key, const stage_inputs *in,
                     char *err, size_t errcap)
{
    char path[4096], why[1024];
    if (sent_cache_path(st->name, key, path, sizeof path, err, errcap) != 0) return -1;
    uint8_t *payload = NULL;
    size_t plen = 0;
    int got = sent_cache_read(path, st->id, key, &payload, &plen, why, sizeof why);
    if (got == 1) {
        sent_reader r = {payload, plen, 0, 0};
        if (st->load(t, &r, in, path, why, sizeof why) != 0) got = -1;
        free(payload);
    }
    if (got == 1) return 0;
    if (got < 0) warn_rebuild(why);
    if (st->build(t, in, err, errcap) != 0) return -1;
    sent_buf b = {0};
    st->save(t, &b);
    int w = sent_cache_write(path, st->id, key, &b, err, errcap);
    sent_buf_free(&b);
    if (w != 0) return -1;
    t->stages_built |= st->built_bit;
    return 0;
}

static void save_model(const dc_task *t, sent_buf *b)
{
    put_model(b, &t->ref);
    put_curves(b, &t->sft_curves);
}

static int load_pretrain(dc_task *t, sent_reader *r, const stage_inputs *in, const char *path,
                         char *why, size_t cap)
{
    if (get_model(r, &in->mc, &t->ref) != 0) {
        dc_fmt(why, cap, "%s does not hold the configured model", path);
        return -1;
    }
    get_curves(r, &t->sft_curves);
    return 0;
}

static int build_pretrain(dc_task *t, const stage_inputs *in, char *err, size_t errcap)
{
    dc_curves_free(&t->sft_curves);
    gpt_config mc = in->mc;
    if (gpt_init(&t->ref, &mc, 1234) != 0) {
        dc_fmt(err, errcap, "out of memory for the model");
        return -1;
    }
    if (t->pretrain_steps > 0 && pretrain(t, in->fort, in->flen, in->rv, in->prog, err, errcap) != 0)
        return -1;
    return 0;
}

static int load_sft(dc_task *t, sent_reader *r, const stage_inputs *in, const char *path,
                    char *why, size_t cap)
{
    // parse into locals and commit only a complete file
    gpt_model m;
    dc_curves cv = {0};
    if (get_model(r, &in->mc, &m) != 0) {
        dc_fmt(why, cap, "%s does not hold the configured model", path);
        return -1;
    }
    get_curves(r, &cv);
    if (r->bad) {
        dc_fmt(why, cap, "%s ends early", path);
        gpt_free(&m);
        dc_curves_free(&cv);
        return -1;
    }
    gpt_free(&t->ref);
    t->ref = m;
    dc_curves_free(&t->sft_curves);
    t->sft_curves = cv;
    return 0;
}

static int build_sft(dc_task *t, const stage_inputs *in, char *err, size_t errcap)
{
    // t->ref holds the pretrained weights here: SFT continues from them
    return sft(t, in->rv, in->prog, err, errcap);
}

static int load_pairs(dc_task *t, sent_reader *r, const stage_inputs *in, const char *path,
                      char *why, size_t cap)
{
    get_pairs(r, in->mc.ctx, in->mc.vocab, &t->train_pairs);
    get_pairs(r, in->mc.ctx, in->mc.vocab, &t->val_pairs);
    if (r->bad) {
        sent_pairs_free(&t->train_pairs);
        sent_pairs_free(&t->val_pairs);
        dc_fmt(why, cap, "%s does not hold valid pairs", path);
        return -1;
    }
    return 0;
}

static int build_pairs(dc_task *t, const stage_inputs *in, char *err, size_t errcap)
{
    int prc = make_pairs(t, t->train_prompts, t->n_train, 0xa11, in->prog, "pairs", &t->train_pairs,
                         err, errcap);
    if (prc == 0)
        prc = make_pairs(t, t->val_prompts, t->n_val, 0xa12, in->prog, "pairs", &t->val_pairs, err,
                         errcap);
    if (prc != 0) return -1;
    if (t->train_pairs.n < 2) {
        dc_fmt(err, errcap, "only %d preference pairs passed gap=%g from %d prompts; lower "
               "gap, or raise samples or prompts", t->train_pairs.n, t->gap, t->n_train);
        return -1;
    }
    return 0;
}

static void save_pairs(const dc_task *t, sent_buf *b)
{
    put_pairs(b, &t->train_pairs);
    put_pairs(b, &t->val_pairs);
}

static const sent_stage STAGE_DEFS[] = {
    {"pretrain", STAGE_PRETRAIN, 1, load_pretrain, build_pretrain, save_model},
    {"sft", STAGE_SFT, 2, load_sft, build_sft, save_model},
    {"pairs", STAGE_PAIRS, 4, load_pairs, build_pairs, save_pairs},
};

/* The training prompts: the first words of `prompts` held-in sentences, in a fixed shuffled
 * order (the pairs are sampled for them, PPO's rollouts start from them). */
static void make_train_prompts(dc_task *t, const sent_reviews *rv)
{
    int *idx = dc_malloc((size_t)rv->n * sizeof(int) + 1), n = 0;
    for (int i = 0; i < rv->n; i++)
        if (!sent_is_held_out(rv->items[i].text)) idx[n++] = i;
    dc_rng rng;
    dc_rng_seed(&rng, 0x7a1);
    dc_rng_shuffle_int(&rng, idx, n);
    t->n_train = t->prompts < n ? t->prompts : n;
    t->train_prompts = dc_calloc((size_t)t->n_train + 1, sizeof(sent_seq));
    for (int i = 0; i < t->n_train; i++) make_prompt(t, rv->items[idx[i]].text, &t->train_prompts[i]);
    free(idx);
}

/* The validation and test prompt sets (held-out sentences alternate between them), and the
 * key of the data the first stage is built from (the vocabulary and every sentence). */
static uint64_t make_eval_prompts(dc_task *t, const sent_reviews *rv)
{
    t->val_prompts = dc_calloc((size_t)t->eval_prompts + 1, sizeof(sent_seq));
    t->test_prompts = dc_calloc((size_t)t->eval_prompts + 1, sizeof(sent_seq));
    t->n_val = t->n_test = 0;
    int held = 0;
    uint64_t data_key = 0x52 ^ sent_vocab_hash(t->vocab);
    for (int i = 0; i < rv->n; i++) {
        data_key = hash_str(data_key, rv->items[i].text);
        if (!sent_is_held_out(rv->items[i].text)) continue;
        if (held++ % 2 == 0) {
            if (t->n_val < t->eval_prompts) make_prompt(t, rv->items[i].text, &t->val_prompts[t->n_val++]);
        } else if (t->n_test < t->eval_prompts) {
            make_prompt(t, rv->items[i].text, &t->test_prompts[t->n_test++]);
        }
    }
    return data_key;
}

int sent_prepare(dc_task *t, const dc_progress *prog, char *err, size_t errcap)
{
    if (t->prepared) return 0;
    t->stages_built = 0;
    char path[4096];
    dc_fmt(path, sizeof path, "%s/vader_lexicon.txt", t->data_dir);
    t->lex = dc_lexicon_load(path, err, errcap);
    if (!t->lex) return -1;
    sent_reviews rv;
    if (sent_reviews_load(t->data_dir, &rv, err, errcap) != 0) {
        sent_release(t);
        return -1;
    }
    size_t flen = 0;
    int entries = 0;
    uint8_t *fort = sent_fortunes_load(t->fortunes_dir, &flen, &entries, err, errcap);
    if (!fort) {
        sent_reviews_free(&rv);
        sent_release(t);
        return -1;
    }
    build_vocab(t, &rv, fort, flen);
    t->model.vocab = sent_vocab_size(t->vocab);
    uint64_t data_key = make_eval_prompts(t, &rv);
    make_train_prompts(t, &rv);
    int rc = -1;
    stage_inputs in = {fort, flen, &rv, prog, t->model};
    const gpt_config mc = t->model;

    // Each stage's key hashes its own configuration and the key of the stage before.
    char kbuf[512];
    // v4: the CPU kernels of issue 15 (inline exp, FTZ/DAZ, other OpenBLAS kernels, scored
    // rows) round differently, and a cache must hold what this code would train; v5: batches
    // in two shards whose weight gradients are summed (gpt.h), single-threaded products
    dc_fmt(kbuf, sizeof kbuf, "pretrain v5 V%d L%d C%d H%d T%d steps%d batch%d lr%.9g fort=%s",
           mc.vocab, mc.layers, mc.width, mc.heads, mc.ctx, t->pretrain_steps, t->lm_batch,
           t->pretrain_lr, t->fortunes_dir);
    // a model trained on another backend has other rounding: its own cache entry (the CPU
    // key is unchanged, so existing caches stay valid)
    if (t->gops && t->gops != gpt_ops_cpu())
        dc_fmt(kbuf + strlen(kbuf), sizeof kbuf - strlen(kbuf), " backend=%s", t->gops->base->kind);
    uint64_t kpre = hash_str(data_key, kbuf);
    if (run_stage(t, &STAGE_DEFS[0], kpre, &in, err, errcap) != 0) goto out;

    dc_fmt(kbuf, sizeof kbuf, "sft v3 steps%d batch%d lr%.9g curve%d eval%d words%d resp%d",
           t->sft_steps, t->lm_batch, t->sft_lr, t->curve_points, t->eval_prompts,
           t->prompt_words, t->response_len);
    // (the probe size joined the key later: the default's key is unchanged, so caches stay valid)
    if (t->curve_prompts != 16)
        dc_fmt(kbuf + strlen(kbuf), sizeof kbuf - strlen(kbuf), " cprompts%d", t->curve_prompts);
    uint64_t ksft = hash_str(kpre, kbuf);
    if (run_stage(t, &STAGE_DEFS[1], ksft, &in, err, errcap) != 0) goto out;
    // the reference model never trains again: release its optimizer state (on the host, and
    // the backend's copy: π_ref's log-probs and samples are computed on the CPU)
    gpt_detach(&t->ref);
    free(t->ref.grads_mem);
    free(t->ref.m_mem);
    free(t->ref.v_mem);
    t->ref.grads_mem = t->ref.m_mem = t->ref.v_mem = NULL;

    dc_fmt(kbuf, sizeof kbuf, "pairs v3 prompts%d samples%d gap%.9g temp%.9g", t->prompts,
           t->samples, t->gap, t->temperature);
    uint64_t kpairs = hash_str(ksft, kbuf);
    if (run_stage(t, &STAGE_DEFS[2], kpairs, &in, err, errcap) != 0) goto out;
    t->prepared = 1;
    rc = 0;
out:
    sent_reviews_free(&rv);
    free(fort);
    if (rc != 0) sent_release(t);
    return rc;
}

void sent_release(dc_task *t)
{
    sent_token_free(&t->tok);
    dc_lexicon_free(t->lex);
    t->lex = NULL;
    sent_vocab_free(t->vocab);
    t->vocab = NULL;
    gpt_free(&t->ref);
    sent_pairs_free(&t->train_pairs);
    sent_pairs_free(&t->val_pairs);
    for (int i = 0; i < t->n_val; i++) sent_seq_free(&t->val_prompts[i]);
    for (int i = 0; i < t->n_test; i++) sent_seq_free(&t->test_prompts[i]);
    for (int i = 0; i < t->n_train; i++) sent_seq_free(&t->train_prompts[i]);
    free(t->val_prompts);
    free(t->test_prompts);
    free(t->train_prompts);
    t->val_prompts = t->test_prompts = t->train_prompts = NULL;
    t->n_val = t->n_test = t->n_train = 0;
    dc_curves_free(&t->sft_curves);
    for (int i = 0; i < t->n_base_memo; i++) {
        cJSON_Delete(t->base_memo[i].metrics);
        t->base_memo[i].metrics = NULL;
        dc_curves_free(&t->base_memo[i].curves);
    }
    t->n_base_memo = 0;
    t->prepared = 0;
}
