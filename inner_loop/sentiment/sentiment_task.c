/* sentiment_task.c — the `sentiment` task's options and its dc_task_ops. The pipeline is in
 * pipeline.c, preference optimisation and scoring in po.c. */
#include "sent_internal.h"

#include "gpt_ops.h"
#include "gpt_pool.h"

#include "common/paths.h"
#include "common/util.h"
#include "inner_loop/backend.h"
#include "sandbox/sandbox.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults sized for a 2-core CPU: the cached vocabulary + pretrain + SFT + pairs stages take
 * about 3 minutes once; one candidate at one β (PO + scoring) about 12 s, and its β sweep has
 * DiscoPOP's shape (higher β: lower KL, lower reward) (bench/RESULTS-sentiment.md).
 * One table (task_option.h) drives parsing, defaults, --help and the archived JSON. */
static int power_of_two_or_zero(long n, char *err, size_t errcap)
{
    if (n == 0 || (n >= 2 && (n & (n - 1)) == 0)) return 0;
    dc_fmt(err, errcap, "%ld is not 0 or a power of two from 2 to 64", n);
    return -1;
}

#define F(field) offsetof(struct dc_task, field)
#define INT_OPT(key, def, help, field, lo, hi) {key, def, help, DC_OPT_INT, lo, hi, 0, 0, F(field), 0, 0, NULL, NULL}
#define REAL_OPT(key, def, help, field, lo, hi) {key, def, help, DC_OPT_REAL, lo, hi, 0, 0, F(field), 0, 0, NULL, NULL}
#define TEXT_OPT(key, def, help, field) {key, def, help, DC_OPT_TEXT, 0, 0, 0, 0, F(field), sizeof(((struct dc_task *)0)->field), 0, NULL, NULL}

static const dc_task_option OPTIONS[] = {
    {"beta", "0.05", "KL strength β; a list (0.05,0.1,0.5) trains once per β", DC_OPT_REAL_LIST, 0, 1000,
     1, 0, F(betas), SENT_MAX_BETAS, F(nbetas), NULL, NULL},
    INT_OPT("steps", "100", "preference-optimisation steps per β", steps, 0, 1000000),
    INT_OPT("batch", "16", "preference pairs per step", batch, 1, 4096),
    REAL_OPT("lr", "0.0003", "AdamW learning rate of preference optimisation", lr, 0, 1),
    REAL_OPT("gap", "0.15", "keep pairs whose reward difference (chosen - rejected) is >= gap", gap, 0, 1),
    REAL_OPT("kl_penalty", SENT_KL_PENALTY_DEFAULT,
             "fitness = reward - kl_penalty * per-token KL(policy || reference); the default is "
             "DPO's measured frontier slope, so reward bought with KL does not pay (0: reward alone)",
             kl_penalty, 0, 1e6),
    INT_OPT("vocab", "2048", "word vocabulary size (end-of-text, <unk> and the most frequent words)",
            vocab_size, 16, GPT_VOCAB_MAX),
    INT_OPT("layers", "2", "transformer blocks", model.layers, 1, 48),
    INT_OPT("width", "96", "model width (channels)", model.width, 8, 2048),
    INT_OPT("heads", "4", "attention heads (must divide width)", model.heads, 1, 64),
    INT_OPT("context", "32", "context length in tokens (prompt + response + 1)", model.ctx, 16, 1024),
    INT_OPT("pretrain_steps", "1000", "next-word pretraining steps on fortunes + review sentences",
            pretrain_steps, 0, 10000000),
    REAL_OPT("pretrain_lr", "0.003", "pretraining learning rate", pretrain_lr, 0, 1),
    INT_OPT("sft_steps", "600", "SFT steps on the held-in review sentences (gives the reference policy)",
            sft_steps, 0, 10000000),
    REAL_OPT("sft_lr", "0.002", "SFT learning rate", sft_lr, 0, 1),
    INT_OPT("lm_batch", "32", "sequences per pretraining / SFT step", lm_batch, 1, 4096),
    INT_OPT("samples", "8", "completions sampled per prompt to build a pair (best vs worst reward)", samples,
            2, 64),
    REAL_OPT("temperature", "1", "sampling temperature of the completions that make the pairs", temperature,
             0.05, 20),
    INT_OPT("prompts", "1024", "training prompts (first words of held-in sentences) for pairs", prompts, 2,
            100000),
    INT_OPT("eval_prompts", "128", "held-out prompts in each of the validation and test sets", eval_prompts,
            1, 10000),
    INT_OPT("eval_samples", "4", "completions sampled per held-out prompt when scoring", eval_samples, 1, 64),
    INT_OPT("response_len", "20", "maximum response length in tokens", response_len, 1, 1000),
    INT_OPT("prompt_words", "3", "words of a sentence that form its prompt", prompt_words, 1, 100),
    INT_OPT("curve_points", "6", "points of the drift curves through SFT and each PO run", curve_points, 2,
            1000),
    INT_OPT("curve_prompts", "16",
            "validation prompts (one sample each) scored at every point of the drift curves", curve_prompts, 1,
            10000),
    {"bon", "0",
     "best-of-N decoding baseline from the reference policy (no training): 0 off, else the largest N, a "
     "power of two up to 64; metrics bon_<N>/reward, bon_<N>/kl, ... for N = 2, 4, ...",
     DC_OPT_INT, 0, 64, 0, 0, F(bon), 0, 0, NULL, power_of_two_or_zero},
    INT_OPT("tq", "0",
            "Transfer Q* decoding baseline from the reference policy (no training): rollouts per candidate "
            "token (0 off); metrics tq/reward, tq/kl, tq/length on the validation prompts",
            tq, 0, 16),
    INT_OPT("tq_topk", "4", "Transfer Q*: candidate tokens per step (the reference policy's most likely)",
            tq_topk, 2, 16),
    REAL_OPT("tq_alpha", "0.1", "Transfer Q*: temperature on the estimated values (smaller: greedier towards reward)",
             tq_alpha, 1e-4, 1e4),
    /* PPO: the defaults are TRL's PPOTrainer (PPOConfig: num_ppo_epochs 4, kl_coef 0.05 with
     * the k1 per-token estimate, cliprange 0.2, cliprange_value 0.2, gamma 1, lam 0.95,
     * advantages whitened, max_grad_norm 1) and OpenAI baselines' ppo2 (nminibatches 4); the
     * learning rates are this model's (README: sentiment, PPO) */
    INT_OPT("ppo", "0",
            "PPO baseline from the reference policy (trains on the CPU; shared by every candidate): "
            "iterations, one batch of rollouts each (0 off); metrics ppo/reward, ppo/kl, ppo/length, "
            "ppo/test_reward, drift curves ppo/po/...",
            ppo.steps, 0, 1000000),
    INT_OPT("ppo_batch", "64", "PPO: rollouts (one response to one training prompt each) per iteration",
            ppo.batch, 1, 4096),
    INT_OPT("ppo_minibatches", "4", "PPO: minibatches each epoch splits the rollouts into (baselines ppo2: 4)",
            ppo.minibatches, 1, 4096),
    INT_OPT("ppo_epochs", "4", "PPO: epochs over each batch of rollouts (TRL: 4)", ppo.epochs, 1, 100),
    REAL_OPT("ppo_lr", "0.0001", "PPO: AdamW learning rate of the policy (measured: clip fraction about 0.1)",
             ppo.lr, 0, 1),
    REAL_OPT("ppo_vf_lr", "0.001", "PPO: Adam learning rate of the value head (linear on the last hidden state)",
             ppo.vf_lr, 0, 1),
    REAL_OPT("ppo_clip", "0.2", "PPO: clip range of the probability ratio (TRL cliprange)", ppo.clip, 0, 10),
    REAL_OPT("ppo_vf_clip", "0.2", "PPO: clip range of the value around the rollout's (TRL cliprange_value)",
             ppo.vf_clip, 0, 1e6),
    REAL_OPT("ppo_gamma", "1", "PPO: discount within a response (TRL: 1)", ppo.gamma, 0, 1),
    REAL_OPT("ppo_lam", "0.95", "PPO: GAE lambda (TRL: 0.95)", ppo.lam, 0, 1),
    REAL_OPT("ppo_kl_coef", "0.05", "PPO: per-token KL penalty to the reference policy in the reward (TRL: 0.05)",
             ppo.kl_coef, 0, 1e6),
    INT_OPT("threads", "2",
            "CPU threads of the GPT (batch halves, sampling, scoring; results do not depend on it)",
            threads, 1, 256),
    {"device", "auto",
     "where the GPT trains: auto (CUDA when the plugin loads and a GPU works, else CPU), cpu, cuda",
     DC_OPT_CHOICE, 0, 0, 0, 0, F(device), sizeof(((struct dc_task *)0)->device), 0, "auto,cpu,cuda", NULL},
    TEXT_OPT("data_dir", "", "folder of vader_lexicon.txt and labelled_*.json (default: <resources>/data/sentiment)",
             data_dir),
    TEXT_OPT("fortunes_dir", "/usr/share/games/fortunes",
             "folder of fortune files (Debian's fortunes packages): vocabulary and pretraining text", fortunes_dir),
    {NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL},
};

#undef INT_OPT
#undef REAL_OPT
#undef TEXT_OPT
#undef F

static int set_option(dc_task *t, const char *key, const char *v, char *err, size_t errcap)
{
    if (t->prepared) sent_release(t); // a changed option invalidates the prepared stages
    if (dc_option_set(OPTIONS, t->token_level ? "sentiment-token" : "sentiment", t, key, v, err,
                      errcap) != 0)
        return -1;
    if (!strcmp(key, "device")) t->gops = NULL; // chosen again by the next prepare()
    return 0;
}

static dc_task *create(void)
{
    dc_task *t = dc_calloc(1, sizeof *t);
    dc_option_defaults(OPTIONS, "sentiment", t);
    return t;
}

/* sentiment-token: the same pipeline, options and caches; candidates see per-token arrays */
static dc_task *create_token(void)
{
    dc_task *t = create();
    t->token_level = 1;
    return t;
}

static cJSON *config_json(const dc_task *t) { return dc_option_json(OPTIONS, t); }

/* The β the system prompt states: the first of the sweep. */
static double prompt_beta(const dc_task *t) { return t->nbetas > 0 ? t->betas[0] : 0.05; }

/* The GPT's own threads split its work (gpt_pool.h); each piece's products run on one
 * OpenBLAS thread. dc_backend_set_threads also sets FTZ/DAZ and the BLAS kernels
 * (backend.h); the pool's threads take the caller's FP mode. */
static void set_threads(const dc_task *t)
{
    dc_backend_set_threads(1);
    gpt_pool_set_threads(t->threads);
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
    if (t->ppo.steps > 0 && t->ppo.minibatches > t->ppo.batch) {
        dc_fmt(err, errcap, "ppo_minibatches %d is more than ppo_batch %d rollouts; lower it",
               t->ppo.minibatches, t->ppo.batch);
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
    set_threads(t);
    // the backend first, so `device cuda` on a machine without one fails before any training
    char why[1024];
    if (!t->gops && gpt_ops_select(t->device, &t->gops, why, sizeof why) != 0) {
        dc_fmt(err, errcap, "option device=%s: %s", t->device, why);
        return -1;
    }
    if (sent_prepare(t, prog, err, errcap) != 0) return -1;
    if (t->token_level && sent_token_prepare(t, err, errcap) != 0) {
        t->prepared = 0;
        return -1;
    }
    return 0;
}

static void run(dc_task *t, const dc_objective *obj, int seed, const dc_progress *prog,
                dc_task_result *out)
{
    set_threads(t);
    sent_run(t, obj, seed, prog, out);
}

static void destroy(dc_task *t)
{
    if (!t) return;
    sent_release(t);
    free(t);
}

int dc_sentiment_stages_built(const dc_task *t) { return t->stages_built; }

/* DiscoPOP seeded its search with DPO, hinge (SLiC), IPO and KTO; the offline proposer
 * (and random, its control, at an equal budget) with the same losses written in its grammar. */
static const dc_task_baselines BASELINES[] = {
    {"evolve", "grammar"},
    {"random", "grammar"},
    {"*", "dpo,hinge,ipo,kto_pair"},
    {NULL, NULL},
};

/* The metric schema (task_metric.h): per-β metrics are "beta_<β>/<field>" with β printed
 * by %g (sent_beta_name); the first entry matching a name decides its group. */
static const dc_metric_def METRICS[] = {
    {"reward", "validation reward (mean over the β list; the fitness subtracts kl_penalty * KL)", 0,
     NULL, NULL, DC_AXIS_NONE},
    {"test_reward", "the same on the held-out test prompts", 1, NULL, NULL, DC_AXIS_NONE},
    {"beta_{}/reward", "validation reward of the policy trained at β", 0, "per_beta", "trained",
     DC_AXIS_REWARD},
    {"beta_{}/kl", "per-token KL(policy || reference) on validation samples at β", 0, "per_beta",
     "trained", DC_AXIS_KL},
    {"beta_{}/test_reward", "test reward at β", 1, "per_beta", NULL, DC_AXIS_NONE},
    {"beta_{}/test_kl", "test KL at β", 1, "per_beta", NULL, DC_AXIS_NONE},
    {"beta_{}/*", "pref_accuracy, length and drift metrics at β (validation)", 0, "per_beta", NULL,
     DC_AXIS_NONE},
    {"bon_{}/reward", "best-of-N from the reference policy: validation reward", 0, "best_of_n",
     "best_of_n", DC_AXIS_REWARD},
    {"bon_{}/kl", "best-of-N: analytic per-token KL bound", 0, "best_of_n", "best_of_n", DC_AXIS_KL},
    {"bon_{}/*", "best-of-N: other metrics (test_reward, length)", 0, "best_of_n", NULL, DC_AXIS_NONE},
    {"tq/reward", "Transfer Q* decoding: validation reward", 0, "transfer_q", "transfer_q",
     DC_AXIS_REWARD},
    {"tq/kl", "Transfer Q* decoding: exact per-token KL", 0, "transfer_q", "transfer_q", DC_AXIS_KL},
    {"tq/alpha", "Transfer Q* decoding: its temperature on Q", 0, "transfer_q", "transfer_q",
     DC_AXIS_PARAM},
    {"tq/*", "Transfer Q* decoding: other metrics (length)", 0, "transfer_q", NULL, DC_AXIS_NONE},
    {"ppo/reward", "PPO from π_ref: validation reward", 0, "ppo", "ppo", DC_AXIS_REWARD},
    {"ppo/kl", "PPO: per-token KL(policy || reference) on validation samples", 0, "ppo", "ppo",
     DC_AXIS_KL},
    {"ppo/kl_coef", "PPO: its KL penalty coefficient", 0, "ppo", "ppo", DC_AXIS_PARAM},
    {"ppo/test_reward", "PPO: test reward", 1, "ppo", NULL, DC_AXIS_NONE},
    {"ppo/test_kl", "PPO: test KL", 1, "ppo", NULL, DC_AXIS_NONE},
    {"ppo/*", "PPO: length, pref_accuracy, drift of reward, length, KL and pref_accuracy (validation)",
     0, "ppo", NULL, DC_AXIS_NONE},
    {"ref_reward", "validation reward of the reference policy π_ref", 0, "", NULL, DC_AXIS_NONE},
    {"ref_test_reward", "test reward of π_ref", 1, NULL, NULL, DC_AXIS_NONE},
    {"kl", "per-token KL (mean over the β list)", 0, NULL, NULL, DC_AXIS_NONE},
    {"pref_accuracy", "held-out preference accuracy (ties count 1/2)", 0, NULL, NULL, DC_AXIS_NONE},
    {"pairs", "training pairs kept by the value gap", 0, NULL, NULL, DC_AXIS_NONE},
    {"pair_reward_gap", "mean reward gap (chosen - rejected) of the kept pairs", 0, NULL, NULL,
     DC_AXIS_NONE},
    {NULL, NULL, 0, NULL, NULL, DC_AXIS_NONE},
};

/* The value-drift curves (po.c, ppo.c, pipeline.c): reward and length through SFT, then
 * through each preference run and PPO. */
static const dc_curve_def DRIFT_CURVES[] = {
    {"sft/reward", "reward", "sft", "SFT"},
    {"ppo/po/reward", "reward", "ppo", "PPO"},
    {"beta_{}/po/reward", "reward", "trained", NULL},
    {"sft/length", "length", "sft", "SFT"},
    {"ppo/po/length", "length", "ppo", "PPO"},
    {"beta_{}/po/length", "length", "trained", NULL},
    {NULL, NULL, NULL, NULL},
};

const dc_task_ops dc_task_sentiment = {
    .name = "sentiment",
    .summary = "preference optimisation of a small word-level GPT towards positive reviews "
               "(DiscoPOP's IMDb experiment; CPU, or CUDA with --device)",
    .kind = SBX_PREF,
    .fitness_name = "reward",
    .test_name = "test_reward",
    .fitness_description = "the mean sentiment reward of the fine-tuned model's completions on "
                           "validation prompts minus kl_penalty (0.25 by default) times their "
                           "per-token KL from the reference model, so reward bought with "
                           "divergence does not pay",
    .system_prompt = "system_sentiment.txt",
    .baselines = BASELINES,
    .options = OPTIONS,
    .metrics = METRICS,
    .drift_curves = DRIFT_CURVES,
    .reference_baseline = "dpo",
    .prompt_beta = prompt_beta,
    .create = create,
    .set_option = set_option,
    .config_json = config_json,
    .prepare = prepare,
    .run = run,
    .destroy = destroy,
};

/* Token-level baselines (examples/objectives/sentiment-token/): DPO written per token (the
 * same training as sentiment's dpo.c), AAO's similarity weights and TIS-DPO-style importance weights;
 * the offline proposer starts from its token-level grammar's seeds (DPO per token, similarity,
 * log-ratio and position weights), whose genomes it can mutate, and random, its control, from
 * the same seeds at an equal budget. */
static const dc_task_baselines TOKEN_BASELINES[] = {
    {"evolve", "grammar"},
    {"random", "grammar"},
    {"*", "dpo_token,aao,tis_dpo"},
    {NULL, NULL},
};

const dc_task_ops dc_task_sentiment_token = {
    .name = "sentiment-token",
    .summary = "the sentiment task with a token-level objective interface (token_pref_batch: "
               "per-token log-probs and AAO similarities)",
    .kind = SBX_TOKEN_PREF,
    .fitness_name = "reward",
    .test_name = "test_reward",
    .fitness_description = "the mean sentiment reward of the fine-tuned model's completions on "
                           "validation prompts minus kl_penalty (0.25 by default) times their "
                           "per-token KL from the reference model, so reward bought with "
                           "divergence does not pay",
    .system_prompt = "system_sentiment_token.txt",
    .baselines = TOKEN_BASELINES,
    /* responses are at most response_len tokens (20 by default): the probes go to 32 */
    .probe = {.classes = 0, .tokens = 32},
    .options = OPTIONS,
    .metrics = METRICS,
    .reference_baseline = "dpo_token",
    .token_pair_metric = SENT_TOKEN_PAIR_METRIC,
    .prompt_beta = prompt_beta,
    .create = create_token,
    .set_option = set_option,
    .config_json = config_json,
    .prepare = prepare,
    .run = run,
    .destroy = destroy,
};
