/* sentiment_task.c — the `sentiment` task's options and its dc_task_ops. The pipeline is in
 * pipeline.c, preference optimisation and scoring in po.c. */
#include "sent_internal.h"

#include "gpt_ops.h"

#include "../backend.h"
#include "../../common/paths.h"
#include "../../common/util.h"
#include "../../sandbox/sandbox.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults sized for a 2-core CPU: the cached vocabulary + pretrain + SFT + pairs stages take
 * about 3 minutes once; one candidate at one β (PO + scoring) about 12 s, and its β sweep has
 * DiscoPOP's shape (higher β: lower KL, lower reward) (bench/RESULTS-sentiment.md). */
static const dc_task_option OPTIONS[] = {
    {"beta", "0.05", "KL strength β; a list (0.05,0.1,0.5) trains once per β"},
    {"steps", "100", "preference-optimisation steps per β"},
    {"batch", "16", "preference pairs per step"},
    {"lr", "0.0003", "AdamW learning rate of preference optimisation"},
    {"gap", "0.15", "keep pairs whose reward difference (chosen - rejected) is >= gap"},
    {"kl_penalty", "0", "fitness = reward - kl_penalty * per-token KL(policy || reference)"},
    {"vocab", "2048", "word vocabulary size (end-of-text, <unk> and the most frequent words)"},
    {"layers", "2", "transformer blocks"},
    {"width", "96", "model width (channels)"},
    {"heads", "4", "attention heads (must divide width)"},
    {"context", "32", "context length in tokens (prompt + response + 1)"},
    {"pretrain_steps", "1000", "next-word pretraining steps on fortunes + review sentences"},
    {"pretrain_lr", "0.003", "pretraining learning rate"},
    {"sft_steps", "600", "SFT steps on the held-in review sentences (gives the reference policy)"},
    {"sft_lr", "0.002", "SFT learning rate"},
    {"lm_batch", "32", "sequences per pretraining / SFT step"},
    {"samples", "8", "completions sampled per prompt to build a pair (best vs worst reward)"},
    {"temperature", "1", "sampling temperature of the completions that make the pairs"},
    {"prompts", "1024", "training prompts (first words of held-in sentences) for pairs"},
    {"eval_prompts", "128", "held-out prompts in each of the validation and test sets"},
    {"eval_samples", "4", "completions sampled per held-out prompt when scoring"},
    {"response_len", "20", "maximum response length in tokens"},
    {"prompt_words", "3", "words of a sentence that form its prompt"},
    {"curve_points", "6", "points of the drift curves through SFT and each PO run"},
    {"tq", "0", "Transfer Q* decoding baseline from the reference policy (no training): rollouts per candidate token (0 off); metrics tq/reward, tq/kl, tq/length on the validation prompts"},
    {"tq_topk", "4", "Transfer Q*: candidate tokens per step (the reference policy's most likely)"},
    {"tq_alpha", "0.1", "Transfer Q*: temperature on the estimated values (smaller: greedier towards reward)"},
    {"bon", "0", "best-of-N decoding baseline from the reference policy (no training): 0 off, else the largest N, a power of two up to 64; metrics bon_<N>/reward, bon_<N>/kl, ... for N = 2, 4, ..."},
    {"threads", "2", "OpenBLAS threads"},
    {"device", "auto", "where the GPT trains: auto (CUDA when the plugin loads and a GPU works, else CPU), cpu, cuda"},
    {"data_dir", "", "folder of vader_lexicon.txt and labelled_*.json (default: <resources>/data/sentiment)"},
    {"fortunes_dir", "/usr/share/games/fortunes", "folder of fortune files (Debian's fortunes packages): vocabulary and pretraining text"},
    {NULL, NULL, NULL},
};

static int parse_int(const char *key, const char *v, long lo, long hi, int *out, char *err,
                     size_t errcap)
{
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        dc_fmt(err, errcap, "option %s: '%s' is not an integer in %ld..%ld", key, v, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int parse_dbl(const char *key, const char *v, double lo, double hi, double *out,
                     char *err, size_t errcap)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi) {
        dc_fmt(err, errcap, "option %s: '%s' is not a number in %g..%g", key, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int set_option(dc_task *t, const char *key, const char *v, char *err, size_t errcap)
{
    if (t->prepared) sent_release(t); // a changed option invalidates the prepared stages
#define INT_OPT(name, field, lo, hi) \
    if (strcmp(key, name) == 0) return parse_int(key, v, lo, hi, &t->field, err, errcap);
#define DBL_OPT(name, field, lo, hi) \
    if (strcmp(key, name) == 0) return parse_dbl(key, v, lo, hi, &t->field, err, errcap);
    INT_OPT("steps", steps, 0, 1000000)
    INT_OPT("batch", batch, 1, 4096)
    DBL_OPT("lr", lr, 0, 1)
    DBL_OPT("gap", gap, 0, 1)
    DBL_OPT("kl_penalty", kl_penalty, 0, 1e6)
    INT_OPT("vocab", vocab_size, 16, GPT_VOCAB_MAX)
    INT_OPT("layers", model.layers, 1, 48)
    INT_OPT("width", model.width, 8, 2048)
    INT_OPT("heads", model.heads, 1, 64)
    INT_OPT("context", model.ctx, 16, 1024)
    INT_OPT("pretrain_steps", pretrain_steps, 0, 10000000)
    DBL_OPT("pretrain_lr", pretrain_lr, 0, 1)
    INT_OPT("sft_steps", sft_steps, 0, 10000000)
    DBL_OPT("sft_lr", sft_lr, 0, 1)
    DBL_OPT("temperature", temperature, 0.05, 20)
    INT_OPT("lm_batch", lm_batch, 1, 4096)
    INT_OPT("samples", samples, 2, 64)
    INT_OPT("prompts", prompts, 2, 100000)
    INT_OPT("eval_prompts", eval_prompts, 1, 10000)
    INT_OPT("eval_samples", eval_samples, 1, 64)
    INT_OPT("response_len", response_len, 1, 1000)
    INT_OPT("prompt_words", prompt_words, 1, 100)
    INT_OPT("curve_points", curve_points, 2, 1000)
    INT_OPT("tq", tq, 0, 16)
    INT_OPT("tq_topk", tq_topk, 2, 16)
    DBL_OPT("tq_alpha", tq_alpha, 1e-4, 1e4)
    if (strcmp(key, "bon") == 0) {
        int n;
        if (parse_int(key, v, 0, 64, &n, err, errcap) != 0) return -1;
        if (n == 1 || (n & (n - 1)) != 0) {
            dc_fmt(err, errcap, "option bon: %d is not 0 or a power of two from 2 to 64", n);
            return -1;
        }
        t->bon = n;
        return 0;
    }
    INT_OPT("threads", threads, 1, 256)
#undef INT_OPT
#undef DBL_OPT
    if (strcmp(key, "beta") == 0) {
        double b[SENT_MAX_BETAS];
        int n = dc_parse_double_list(v, b, SENT_MAX_BETAS, err, errcap);
        if (n < 0) return -1;
        if (n == 0) {
            dc_fmt(err, errcap, "option beta: give at least one value, e.g. 0.05 or 0.05,0.1");
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (!(b[i] > 0) || b[i] > 1000) {
                dc_fmt(err, errcap, "option beta: %g is out of range; use values in (0, 1000]", b[i]);
                return -1;
            }
        memcpy(t->betas, b, (size_t)n * sizeof *b);
        t->nbetas = n;
        return 0;
    }
    if (strcmp(key, "device") == 0) {
        if (strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda")) {
            dc_fmt(err, errcap, "option device: '%s' is not accepted; give auto, cpu or cuda", v);
            return -1;
        }
        snprintf(t->device, sizeof t->device, "%s", v);
        t->gops = NULL; // chosen again by the next prepare()
        return 0;
    }
    if (strcmp(key, "data_dir") == 0 || strcmp(key, "fortunes_dir") == 0) {
        char *dst = key[0] == 'd' ? t->data_dir : t->fortunes_dir;
        if (strlen(v) >= sizeof t->data_dir) {
            dc_fmt(err, errcap, "option %s: path is too long", key);
            return -1;
        }
        snprintf(dst, sizeof t->data_dir, "%s", v);
        return 0;
    }
    dc_sb names = {0};
    for (const dc_task_option *o = OPTIONS; o->key; o++) dc_sb_printf(&names, "%s%s", o == OPTIONS ? "" : ", ", o->key);
    dc_fmt(err, errcap, "task sentiment has no option '%s'; options: %s", key, names.data);
    dc_sb_free(&names);
    return -1;
}

static dc_task *create(void)
{
    dc_task *t = dc_calloc(1, sizeof *t);
    char err[256];
    for (const dc_task_option *o = OPTIONS; o->key; o++)
        if (set_option(t, o->key, o->def, err, sizeof err) != 0) {
            fprintf(stderr, "sentiment: bad default: %s\n", err); // a bug in the table above
            abort();
        }
    return t;
}

static cJSON *config_json(const dc_task *t)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *b = cJSON_AddArrayToObject(c, "beta");
    for (int i = 0; i < t->nbetas; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber(t->betas[i]));
    cJSON_AddNumberToObject(c, "steps", t->steps);
    cJSON_AddNumberToObject(c, "batch", t->batch);
    cJSON_AddNumberToObject(c, "lr", t->lr);
    cJSON_AddNumberToObject(c, "gap", t->gap);
    cJSON_AddNumberToObject(c, "kl_penalty", t->kl_penalty);
    cJSON_AddNumberToObject(c, "vocab", t->vocab_size);
    cJSON_AddNumberToObject(c, "layers", t->model.layers);
    cJSON_AddNumberToObject(c, "width", t->model.width);
    cJSON_AddNumberToObject(c, "heads", t->model.heads);
    cJSON_AddNumberToObject(c, "context", t->model.ctx);
    cJSON_AddNumberToObject(c, "pretrain_steps", t->pretrain_steps);
    cJSON_AddNumberToObject(c, "pretrain_lr", t->pretrain_lr);
    cJSON_AddNumberToObject(c, "sft_steps", t->sft_steps);
    cJSON_AddNumberToObject(c, "sft_lr", t->sft_lr);
    cJSON_AddNumberToObject(c, "lm_batch", t->lm_batch);
    cJSON_AddNumberToObject(c, "samples", t->samples);
    cJSON_AddNumberToObject(c, "temperature", t->temperature);
    cJSON_AddNumberToObject(c, "prompts", t->prompts);
    cJSON_AddNumberToObject(c, "eval_prompts", t->eval_prompts);
    cJSON_AddNumberToObject(c, "eval_samples", t->eval_samples);
    cJSON_AddNumberToObject(c, "response_len", t->response_len);
    cJSON_AddNumberToObject(c, "prompt_words", t->prompt_words);
    cJSON_AddNumberToObject(c, "curve_points", t->curve_points);
    cJSON_AddNumberToObject(c, "bon", t->bon);
    cJSON_AddNumberToObject(c, "tq", t->tq);
    cJSON_AddNumberToObject(c, "tq_topk", t->tq_topk);
    cJSON_AddNumberToObject(c, "tq_alpha", t->tq_alpha);
    cJSON_AddNumberToObject(c, "threads", t->threads);
    cJSON_AddStringToObject(c, "device", t->device);
    cJSON_AddStringToObject(c, "data_dir", t->data_dir);
    cJSON_AddStringToObject(c, "fortunes_dir", t->fortunes_dir);
    return c;
}

static int prepare(dc_task *t, const dc_progress *prog, char *err, size_t errcap)
{
    if (t->prepared) return 0;
    char ce[256];
    t->model.vocab = t->vocab_size; // the built vocabulary may be smaller (sent_prepare)
    if (gpt_config_check(&t->model, ce, sizeof ce) != 0) {
        dc_fmt(err, errcap, "sentiment model: %s", ce);
        return -1;
    }
    if (t->response_len + 4 > t->model.ctx) {
        dc_fmt(err, errcap, "response_len %d leaves no room for a prompt in context %d; raise "
               "context or lower response_len", t->response_len, t->model.ctx);
        return -1;
    }
    if (!t->data_dir[0]) {
        char e2[512];
        if (dc_resource_path("data/sentiment", t->data_dir, sizeof t->data_dir, e2, sizeof e2) != 0) {
            t->data_dir[0] = '\0';
            dc_fmt(err, errcap, "cannot find the sentiment data (data/sentiment): %s; set "
                   "DISCOVER_HOME or the option data_dir", e2);
            return -1;
        }
    }
    dc_backend_set_threads(t->threads); // also FTZ/DAZ and the BLAS kernels (backend.h)
    // the backend first, so `device cuda` on a machine without one fails before any training
    char why[1024];
    if (!t->gops && gpt_ops_select(t->device, &t->gops, why, sizeof why) != 0) {
        dc_fmt(err, errcap, "option device=%s: %s", t->device, why);
        return -1;
    }
    return sent_prepare(t, prog, err, errcap);
}

static void run(dc_task *t, const dc_objective *obj, int seed, const dc_progress *prog,
                dc_task_result *out)
{
    dc_backend_set_threads(t->threads); // also FTZ/DAZ and the BLAS kernels (backend.h)
    sent_run(t, obj, seed, prog, out);
}

static void destroy(dc_task *t)
{
    if (!t) return;
    sent_release(t);
    free(t);
}

int dc_sentiment_stages_built(const dc_task *t) { return t->stages_built; }

const dc_task_ops dc_task_sentiment = {
    .name = "sentiment",
    .summary = "preference optimisation of a small word-level GPT towards positive reviews "
               "(DiscoPOP's IMDb experiment; CPU, or CUDA with --device)",
    .interface = SBX_PREF,
    .fitness_name = "reward",
    .test_name = "test_reward",
    .options = OPTIONS,
    .create = create,
    .set_option = set_option,
    .config_json = config_json,
    .prepare = prepare,
    .run = run,
    .destroy = destroy,
};
