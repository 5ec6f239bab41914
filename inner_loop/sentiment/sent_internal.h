/* sent_internal.h — the state shared by the sentiment task's files (options, prepared
 * stages) and the functions of its pipeline (pipeline.c) and of preference optimisation
 * (po.c). Not part of any public contract. */
#ifndef DC_SENT_INTERNAL_H
#define DC_SENT_INTERNAL_H

#include "data.h"
#include "gpt.h"
#include "lexicon.h"
#include "lm.h"
#include "ppo.h"
#include "sentiment.h"
#include "vocab.h"

#define SENT_MAX_BETAS 16
#define SENT_MEMO_SEEDS 8 /* seeds whose baselines are kept (a power of two) */

typedef struct {
    int n;
    sent_seq *chosen, *rejected;
    double *ref_chosen, *ref_rejected; /* summed log π_ref over response tokens */
    double *reward_chosen, *reward_rejected;
} sent_pairs;

void sent_pairs_free(sent_pairs *p);

/* The search fitness of one trained policy (po.c): reward − kl_penalty · per-token KL, so a
 * candidate cannot win the search by buying reward with divergence from π_ref. The default
 * penalty, 0.25 reward per nat of per-token KL, is the slope of DPO's measured reward-vs-KL
 * frontier on this task between β 0.1 and 0.5 (0.25–0.28; bench/RESULTS-sentiment.md): DPO
 * at β 0.1, 0.25 and 0.5 then scores within 0.005 of each other (moving along the frontier
 * neither gains nor loses), β 0.05 scores lower (its last 0.004 of reward cost 0.13 nats),
 * and the penalty stays below the chord from π_ref to DPO (0.38), so learning still beats
 * staying at π_ref. */
#define SENT_KL_PENALTY_DEFAULT "0.25"
double sent_fitness(double reward, double kl, double kl_penalty);

/* Per-token data of the training pairs for the token-level task (token.c): pair i's chosen
 * response tokens are off_c[i] .. off_c[i] + its response length - 1 of ref_c / sim_c. */
typedef struct {
    int *off_c, *off_r;
    int tc, tr;             /* tokens in all chosen / all rejected responses */
    double *ref_c, *ref_r;  /* per-token log π_ref */
    double *sim_c, *sim_r;  /* AAO similarity in [0, 1] (token.c says how) */
    /* one held-out (validation) pair for the report's token-weight figure, in the JSON form
     * of dc_task_ops.token_pair_metric (task.h); NULL when there is no validation pair */
    cJSON *pair;
} sent_token_data;

struct dc_task {
    /* options */
    double betas[SENT_MAX_BETAS];
    int nbetas;
    int steps, batch;
    double lr, gap, kl_penalty;
    gpt_config model;
    int vocab_size; /* requested; model.vocab is the built vocabulary's size */
    int pretrain_steps, sft_steps, lm_batch;
    double pretrain_lr, sft_lr, temperature;
    int samples, prompts, eval_prompts, eval_samples, response_len, prompt_words;
    int curve_points, curve_prompts, threads;
    int bon; /* best-of-N baseline: the largest N (a power of two), 0 = off */
    int tq, tq_topk; /* Transfer Q* decoding: rollouts per candidate token (0 = off), top-k */
    double tq_alpha; /* its temperature on Q */
    sent_ppo_config ppo; /* the PPO baseline (ppo.h); ppo.steps == 0: off */
    /* The baselines (best-of-N, Transfer Q*, PPO) depend only on π_ref, the seed and the
     * prompts, not on the candidate: their metrics and curves are computed once per seed and
     * kept here until the next prepare() */
    struct dc_sent_memo {
        int seed;
        cJSON *metrics;
        dc_curves curves;
    } base_memo[SENT_MEMO_SEEDS];
    int n_base_memo;
    char device[8]; /* auto | cpu | cuda: where the GPT trains */
    char data_dir[1024], fortunes_dir[1024];
    /* prepared state */
    const struct dc_gpt_ops *gops; /* chosen by prepare() from device */
    int prepared, stages_built;
    dc_lexicon *lex;
    sent_vocab *vocab;
    gpt_model ref;
    sent_pairs train_pairs, val_pairs;
    sent_seq *val_prompts, *test_prompts;
    int n_val, n_test;
    sent_seq *train_prompts; /* the `prompts` held-in prompts the pairs are sampled for (and
                                PPO's rollouts): built at every prepare(), not cached */
    int n_train;
    dc_curves sft_curves; /* "pretrain/loss", "sft/loss", "sft/reward" */
    /* sentiment-token: candidates see token_pref_batch (token.c) instead of pref_batch */
    int token_level;
    sent_token_data tok;
};

/* Per-token reference log-probs and similarities of the training pairs (token.c); 0 or -1
 * with a message. */
int sent_token_prepare(dc_task *t, char *err, size_t cap);
void sent_token_free(sent_token_data *d);
/* The metrics key of the held-out pair (dc_task_ops.token_pair_metric). */
#define SENT_TOKEN_PAIR_METRIC "token_pair"
/* Min-max normalises the raw similarities of one pair (both responses together) in place. */
void sent_token_normalise(double *c, int nc, double *r, int nr);
/* One token-level objective call for the batch of training pairs pairs[0..n): the policy's
 * per-token log-probs from logp/tg (Tb positions per row, chosen rows then rejected), the
 * losses into loss and d(mean loss)/d logp into dlogp. DC_OK or the failure, with msg. */
dc_status sent_token_step(const dc_task *t, const dc_objective *obj, const int *pairs, int n,
                          double beta, int Tb, const int *tg, const float *logp, float *dlogp,
                          double *loss, char *msg, size_t cap);

/* Builds or loads every stage (pipeline.c). */
int sent_prepare(dc_task *t, const dc_progress *prog, char *err, size_t errcap);
void sent_release(dc_task *t);

/* Mean reward, per-token KL(π‖π_ref) and mean response length of `samples` completions per
 * prompt sampled from `policy` with a generator seeded by `seed` (po.c). With policy ==
 * ref the KL is 0. -1 on out of memory. */
/* Sequences sampled per gpt_sample call when scoring and decoding. */
#define SENT_SAMPLE_CHUNK 64

typedef struct {
    double reward, kl, length;
} sent_score;
int sent_score_prompts(const dc_task *t, gpt_model *policy, gpt_model *ref, const sent_seq *prompts,
                       int n, int samples, uint64_t seed, sent_score *out);

/* Preference optimisation + scoring for one seed (po.c): fills out. */
void sent_run(dc_task *t, const dc_objective *obj, int seed, const dc_progress *prog,
              dc_task_result *out);

/* Fraction of held-out pairs whose implicit reward margin under `policy` is positive (ties
 * 1/2) into *acc (po.c); 1/2 without a forward pass when policy has ref's (π_ref's)
 * parameters bit for bit (ref may be NULL). 0, or -1 (out of memory). */
int sent_pref_accuracy(gpt_model *policy, const gpt_model *ref, const sent_pairs *p,
                       double *acc);

/* Adds "<name>_drift" and "<name>_drift_time" of curve `curve` in cv to m (po.c). */
void sent_add_drift(cJSON *m, const dc_curves *cv, const char *curve, const char *name);

/* PPO from π_ref for one seed with t->ppo (ppo.c): adds the ppo/... metrics (scored on the
 * validation and test prompts with the sample streams val_seed and test_seed, as every
 * policy of the run) to m and the PPO curves to cv. DC_OK (also when PPO is off), or a
 * status with a message. */
dc_status sent_ppo(dc_task *t, int seed, uint64_t val_seed, uint64_t test_seed,
                   const dc_progress *prog, cJSON *m, dc_curves *cv, char *msg, size_t cap);

/* Best-of-N from π_ref on n prompts (decode.c): adds bon_<N>/reward, /kl, /length for
 * N = 2, 4, ..., t->bon (or bon_<N>/test_reward when test). 0, or -1 (out of memory). */
int sent_best_of_n(const dc_task *t, const sent_seq *prompts, int n, uint64_t seed, int test,
                   cJSON *m);
/* Transfer Q*-style decoding from π_ref on n prompts (decode.c): adds "tq/reward", "tq/kl"
 * (per token, exact) and "tq/length" to m. 0, or -1 (out of memory). */
int sent_transfer_q(dc_task *t, const sent_seq *prompts, int n, uint64_t seed, cJSON *m);

/* Moves m's training onto the chosen backend when that is not the CPU (the CPU path stays
 * gpt.c's direct calls); no-op when already attached. 0, or -1 with a message. */
int sent_attach(const dc_task *t, gpt_model *m, char *err, size_t errcap);
/* "the backend failed: <its message>" into buf when m's backend recorded an error: 1, else 0. */
int sent_backend_failure(const gpt_model *m, char *buf, size_t cap);

/* "%g" of β for metric names. */
void sent_beta_name(double beta, char *buf, size_t cap);

#endif
