/* task.h — the task interface: everything the outer loop knows of an inner-loop task.
 *
 * A task owns its data, model and training configuration, and everything else particular to
 * it: the objective interface its candidates are written against, its system prompt, its
 * seed baselines, what its fitness means, the shape of the pre-screen's probes, its options
 * (task_option.h) and the meaning of its metrics (task_metric.h). discover/, sandbox/ and
 * archive/ know tasks only through this table; adding a task is a folder under inner_loop/,
 * its prompt and examples, and one line in the registry (task.c).
 *
 * It trains a model with a candidate objective (reached through a dc_objective, normally
 * the sandbox) for one seed and scores it on the validation split (the fitness the proposer
 * sees) and on the held-out test split (archived and reported, never shown to the
 * proposer). */
#ifndef DC_TASK_H
#define DC_TASK_H

#include "common/curve.h"
#include "common/status.h"
#include "task_metric.h"
#include "task_option.h"
#include "sandbox/discover_objective.h"
#include "sandbox/sandbox.h"

#include <cJSON.h>
#include <signal.h>
#include <stddef.h>

/* How the trainer reaches the objective under test. Exactly the callback matching the
 * task's interface is used. Gradients are of the SUM of per-row losses (see sandbox.h);
 * gradient pointers may be NULL when only losses are needed (scoring). On failure the
 * callback returns the status and writes a short message. */
typedef struct {
    void *ctx;
    dc_status (*cls)(void *ctx, int n, int k, const double *logits, const int *labels,
                     double *loss, double *d_logits, char *msg, size_t msgcap);
    dc_status (*pref)(void *ctx, const pref_batch *b, double *loss, double *d_chosen,
                      double *d_rejected, char *msg, size_t msgcap);
    /* token-level pairs: tokens_chosen / tokens_rejected elements in b's flat arrays;
     * gradients per token, indexed like b->chosen_logps / b->rejected_logps */
    dc_status (*token)(void *ctx, const token_pref_batch *b, int tokens_chosen,
                       int tokens_rejected, double *loss, double *d_chosen, double *d_rejected,
                       char *msg, size_t msgcap);
} dc_objective;

/* Progress reporting and cooperative interruption, both optional. */
typedef struct {
    void *ctx;
    /* Called every few steps: phase is "train", "score", "pretrain", ... */
    void (*on_step)(void *ctx, const char *phase, int step, int total, double loss);
    /* When non-NULL and set to non-zero (e.g. by a SIGINT handler), run() stops at the next
     * step and returns DC_INTERRUPTED. */
    volatile sig_atomic_t *stop;
} dc_progress;

/* The outcome of training and scoring one objective for one seed. */
typedef struct {
    dc_status status;
    char message[512];  /* failure detail; empty on success */
    int failed_step;    /* training step of a mid-training failure, -1 otherwise */
    double fitness;     /* validation metric, higher is better: what the proposer sees */
    double test_metric; /* the same metric on the held-out split */
    cJSON *metrics;     /* owned object of named numbers (task-specific; always includes
                           "fitness" and "test_metric") */
    dc_curves curves;   /* trajectories recorded during training */
    double seconds;
} dc_task_result;

void dc_task_result_init(dc_task_result *r);
void dc_task_result_free(dc_task_result *r);

typedef struct dc_task dc_task; /* opaque; defined by each task */

/* The seed baselines of generation 0 for one proposer. */
typedef struct {
    const char *proposer; /* "evolve", "llm", ...; "*" for every proposer not listed before */
    /* comma-separated file names (no .c) in examples/objectives/<task>/, or "grammar": the
     * offline proposer's own seeds for the task's interface (genomes it can mutate) */
    const char *list;
} dc_task_baselines;

/* The pre-screen's probe batches (sandbox.h: sbx_probe_shape) as the task trains. */
typedef sbx_probe_shape dc_task_probe;

typedef struct {
    const char *name;         /* "fashion" */
    const char *summary;      /* one line for --help */
    sbx_kind kind;            /* the objective interface candidates are written against */
    const char *fitness_name; /* "val_accuracy": what `fitness` means */
    const char *test_name;    /* "test_accuracy" */
    /* What the fitness measures, in the words the system prompt uses. */
    const char *fitness_description;
    const char *system_prompt;           /* template in prompts/ ("system_fashion.txt") */
    const dc_task_baselines *baselines;  /* terminated by {NULL}; the first match wins */
    dc_task_probe probe;                 /* pre-screen probe shape */
    const dc_task_option *options;       /* terminated by {NULL} */
    const dc_metric_def *metrics;        /* terminated by {NULL} */
    const dc_curve_def *drift_curves;    /* terminated by {NULL}; NULL: the task traces none */

    /* `discover demo` runs the first task that has these: "key=value" task options for a
     * short narrated campaign (NULL-terminated), and the paragraph that introduces it. */
    const char *const *demo_options;
    const char *demo_intro;

    /* The baseline the report draws every preference candidate against (its loss curve and
     * frontier dashed): a candidate of this name. NULL: none. */
    const char *reference_baseline;

    /* Token-level tasks: the key under which run() puts one held-out pair into every seed's
     * metrics (so it reaches the archive's metrics_json under "per_seed"), for the report's
     * figure of each candidate's effective per-token weights. NULL: none. The value:
     *   {"beta": β, "prompt": "text",
     *    "chosen":   {"tokens": ["word", ...], "ref_logps": [...], "sim": [...], "reward": r},
     *    "rejected": {... the same ...}}
     * one entry per response token: its text, log π_ref and similarity (what token_pref_batch
     * carries as ref_*_logps and *_sim). The report calls each candidate on this pair, in the
     * sandbox, with the policy's log-probs equal to π_ref's. */
    const char *token_pair_metric;

    /* The β the system prompt states (preference tasks; NULL: none). */
    double (*prompt_beta)(const dc_task *t);

    /* A task with default options. Cheap: no data is loaded yet. */
    dc_task *(*create)(void);
    /* Sets one option from text; returns 0, or -1 with a message naming the option, the
     * bad value and what is accepted. */
    int (*set_option)(dc_task *t, const char *key, const char *value, char *err, size_t errcap);
    /* The full effective configuration (owned by the caller), for the archive. */
    cJSON *(*config_json)(const dc_task *t);
    /* Loads data and builds cached stages; idempotent. -1 with a message naming the missing
     * file/package and what to do. */
    int (*prepare)(dc_task *t, const dc_progress *prog, char *err, size_t errcap);
    /* Trains with `obj` from a fresh initialisation for `seed` and scores. prepare() must
     * have succeeded. Never crashes the caller: every failure is a status in out. */
    void (*run)(dc_task *t, const dc_objective *obj, int seed, const dc_progress *prog,
                dc_task_result *out);
    void (*destroy)(dc_task *t);
} dc_task_ops;

/* The registry of tasks: NULL when unknown. */
const dc_task_ops *dc_task_find(const char *name);
/* Comma-separated names of all tasks, for messages ("fashion, sentiment"). */
const char *dc_task_names(void);
/* The registered tasks, for listing: i-th task, NULL past the end. */
const dc_task_ops *dc_task_at(int i);

/* The seed baselines of the task for `proposer` ("" when it lists none). */
const char *dc_task_default_baselines(const dc_task_ops *ops, const char *proposer);

/* Runs `ops->run` for each seed and aggregates: fitness and test_metric are means over
 * seeds; metrics holds the means of every numeric per-seed metric plus "per_seed" (an
 * array of the per-seed metric objects, each with its "seed"); curves are concatenated with
 * a "seedN/" prefix when there is more than one seed. Stops at the first failing seed and
 * returns its status. */
void dc_task_eval_seeds(const dc_task_ops *ops, dc_task *t, const dc_objective *obj,
                        const int *seeds, int nseeds, const dc_progress *prog,
                        dc_task_result *out);


#endif
