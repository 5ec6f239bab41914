/* campaign.h — the outer loop: propose, screen, train, score, archive, feed back.
 *
 * A campaign lives in the archive: everything needed to continue it (candidates, LLM
 * exchanges, the configuration) is there, so `--resume` after a crash, a SIGKILL or Ctrl-C
 * re-runs only the candidate that was in flight and goes on. */
#ifndef DC_CAMPAIGN_H
#define DC_CAMPAIGN_H

#include "discover/propose/llm/llm_client.h"
#include "discover/propose/prompt.h"

#include <cJSON.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define DC_MAX_SEEDS 32
#define DC_MAX_TASK_OPTIONS 64

typedef struct {
    char task[32];            /* a task of the registry (inner_loop/task.c) */
    char proposer[4200];      /* "evolve" | "random" | "llm" | "replay:ARCHIVE" */
    char replay_campaign[128]; /* replay: campaign in the source archive ("" = its only/first) */
    char campaign[128];       /* name ("" = derived from task and time) */
    char archive_path[4096];
    int generations;          /* proposals after the seed baselines (a resumed campaign runs up to it) */
    int resume;
    uint64_t seed;            /* the campaign's seed (evolve's choices) */
    int seeds[DC_MAX_SEEDS];  /* training seeds per candidate */
    int nseeds;
    char baselines[512];      /* comma-separated seed objectives ("" = the task's defaults) */
    dc_context_cfg context;
    char prompts_dir[4096];   /* "" = built-in prompts */
    char prompt_style[16];    /* "" or "discover" (the default prompts), "discopop" */
    /* LLM endpoint */
    char api_base[1024];
    char model[256];          /* one name, or a comma list (several models in one campaign) */
    char model_weights[256];  /* fixed sampling weights, one per model ("" = equal) */
    char model_select[16];    /* "" or "weights" (fixed sampling), "ucb", "thompson" */
    int model_cost_aware;     /* bandit rewards divided by the call's cost */
    char price_in[256];       /* per million tokens, one per model or one for all ("" = 0) */
    char price_out[256];
    /* the [models] section of a config file: NAME = PRICE_IN, PRICE_OUT per line; turned
     * into the price_in/price_out lists by dc_campaign_resolve_prices */
    int nmodel_prices;
    char model_price_name[16][128];
    double model_price_in[16], model_price_out[16];
    llm_config llm;           /* numbers; strings point into this struct at run time */
    /* budgets (0 = no cap) */
    int max_calls;
    long long max_tokens;
    double max_cost;
    /* wall-clock budget of one candidate's training and scoring, seconds: < 0 = the default
     * (dc_default_candidate_timeout of the slowest seed baseline), 0 = none */
    double candidate_timeout_s;
    /* evaluations at once (1 = the sequential loop, in this process); more: one evaluator
     * process each (discover/campaign/evaluator.h) */
    int jobs;
    /* proposals ahead of the results (0 = jobs): proposal g sees exactly the candidates of
     * generations up to g - in_flight */
    int in_flight;
    /* evaluators per GPU (default 1): evaluator i runs on visible GPU (i / K) mod #GPUs;
     * without --jobs, a campaign on a machine with GPUs gets #GPUs x K evaluators */
    int jobs_per_device;
    int jobs_set; /* jobs was given (a flag, the config file, or the resumed campaign) */
    /* sub-populations (1 = one chronological history, DiscoPOP's): generation g >= 1 belongs
     * to island (g - 1) mod islands; every migrate_every generations each island's best is
     * copied into the next island's context (discover/campaign/islands.h) */
    int islands;
    int migrate_every;
    /* task options as given (key=value), applied in order */
    int ntask_opts;
    char task_keys[DC_MAX_TASK_OPTIONS][64];
    char task_vals[DC_MAX_TASK_OPTIONS][256];
    char task_origin[DC_MAX_TASK_OPTIONS][160]; /* "file:line" for config-file options, or "" */
    /* presentation */
    int narrate;              /* demo: explain each step */
    int quiet;                /* no progress output */
} dc_campaign_cfg;

void dc_campaign_cfg_default(dc_campaign_cfg *c);
/* Sets one configuration value by key (the config file's keys; see README "Configuration").
 * Keys: task, proposer, replay_campaign, campaign, archive, generations, seed, seeds,
 * baselines, context, context_top_k, context_recent, context_failures, context_tokens,
 * prompts, prompt_style, api_base, model, model_weights, model_select, model_cost_aware,
 * temperature, max_tokens_per_call, json_mode, connect_timeout, timeout, retries, price_in,
 * price_out, max_calls, max_tokens, max_cost, candidate_timeout, jobs, in_flight, islands,
 * migrate_every,
 * and task.KEY for
 * any option of the task. */
int dc_campaign_set(dc_campaign_cfg *c, const char *key, const char *value, char *err,
                    size_t errcap);
/* 1 when key is a setting dc_campaign_set accepts (task.KEY is always accepted here; the
 * task checks its own options). */
int dc_campaign_key_known(const char *key);
/* Reads a config file: `key = value` lines, `#` comments, sections [task] and [llm] that
 * prefix their keys ("task.steps"; [llm] keys are the plain LLM keys). */
int dc_campaign_load(dc_campaign_cfg *c, const char *path, char *err, size_t errcap);

typedef struct {
    int64_t campaign_id;
    char campaign[128];
    int candidates;       /* evaluated in this run */
    int64_t best_id;
    char best_name[128];
    double best_fitness, best_test;
    char status[32];      /* finished, interrupted, budget, failed */
    char note[512];       /* why it stopped, when not simply finished */
} dc_campaign_summary;

/* Runs the campaign. stop: set to non-zero (SIGINT) to stop gracefully. Returns 0 when the
 * campaign ran (even if it stopped on a budget or an interrupt; see out->status), -1 with a
 * message on a configuration or environment error. */
int dc_campaign_run(const dc_campaign_cfg *cfg, volatile sig_atomic_t *stop,
                    dc_campaign_summary *out, char *err, size_t errcap);

/* The evaluator process (`discover __evaluator IN_FD OUT_FD`, started by a campaign with
 * jobs > 1): reads its configuration and then candidate ids from in_fd, screens, trains and
 * scores each (reading the archive, never writing it), answers on out_fd. Returns the exit
 * status. */
int dc_evaluator_main(int in_fd, int out_fd);

/* run's default budget of a candidate (candidate_timeout < 0): DC_CANDIDATE_TIMEOUT_FACTOR
 * times the slowest seed baseline's time, at least DC_CANDIDATE_TIMEOUT_FLOOR seconds (an
 * honest objective on the exact gradient path can be 10-20 times slower than a separable
 * baseline; a stalled one must not hold an overnight campaign for hours). */
#define DC_CANDIDATE_TIMEOUT_FACTOR 10.0
#define DC_CANDIDATE_TIMEOUT_FLOOR 300.0
double dc_default_candidate_timeout(double slowest_baseline_s);

/* The configuration as a list of [key, value] pairs that dc_campaign_set accepts. */
cJSON *dc_campaign_settings_json(const dc_campaign_cfg *c);
/* Applies the "settings" list of an archived campaign configuration (for --resume). */
int dc_campaign_apply_settings(dc_campaign_cfg *c, const char *config_json, char *err,
                               size_t errcap);

/* When the config file gave a [models] section and no --price-in/--price-out lists: sets
 * the lists from it, one price per model of the model list in its order (a model the section
 * does not name counts as 0, and `note` says which, for the run to print; "" otherwise).
 * 0, or -1 with why (a list too long). */
int dc_campaign_resolve_prices(dc_campaign_cfg *c, char *note, size_t notecap, char *err,
                               size_t errcap);

/* The GPUs a campaign's evaluators are pinned to (dc_visible_gpus): none unless the task
 * has a device option and it is not "cpu". Returns how many (up to cap). */
#define DC_MAX_GPUS 64
int dc_campaign_gpus(const dc_campaign_cfg *c, char ids[][64], int cap);

#endif
