/* campaign.c — the outer loop of a discovery campaign.
 *
 * Order of work for every candidate, cheapest first: exact duplicate (code hash) →
 * compile + pre-screen in the sandbox → behavioural duplicate (fingerprint over the
 * training batch sizes, confirmed on a real training batch) → train and score. The
 * candidate row is written as "pending" before any of it, and finished in one transaction
 * afterwards, so a crash leaves at most that one candidate to re-run.
 *
 * The states of one candidate (the archive's `status` column, common/status.h) and the
 * function that moves it from one to the next:
 *
 *   (proposal) ──add_and_evaluate──▶ pending          row written, nothing run yet
 *   pending ──evaluate_candidate──▶ duplicate          same code hash as an earlier row
 *                                                      (mark_duplicate copies its result)
 *   pending ──evaluate_candidate──▶ compile_error | violation | crash | timeout |
 *                                   nonfinite | invalid      dc_screen rejected it
 *   pending ──evaluate_candidate──▶ duplicate          same behaviour fingerprint, and
 *                                                      the same on a real training batch
 *   pending ──evaluate_candidate──▶ ok | nonfinite | timeout | crash | error
 *                                                      dc_train_and_score's verdict
 *   pending ──(Ctrl-C, SIGKILL)───▶ pending            left as is; rerun_unfinished runs
 *                                                      it again on --resume
 *   (reply that did not parse) ─────▶ parse_error      add_and_evaluate, never screened
 *
 * With jobs > 1 evaluate_core runs in an evaluator process (dc_evaluator_main) and the
 * campaign process finishes the row from its answer (pool_step → job_done); besides:
 *
 *   pending ──evaluator_lost──▶ pending               its evaluator died: queued again, once
 *   pending ──evaluator_lost──▶ crash                 its second evaluator died too
 *   pending ──evaluator_lost──▶ interrupted           an evaluator that died after Ctrl-C
 *
 * Every state but pending is final; the feedback of the next prompt is chosen by it
 * (prompts/feedback_<status>.txt). */
#define _GNU_SOURCE
#include "campaign.h"

#include "archive/archive.h"
#include "common/paths.h"
#include "common/stop_signal.h"
#include "common/util.h"
#include "evaluate.h"
#include "evaluator.h"
#include "discover/propose/evolve/evolve.h"
#include "inner_loop/backend.h"
#include "inner_loop/task.h"
#include "islands.h"
#include "mpi_pool.h"
#include "progress.h"
#include "proposals.h"
#include "discover/propose/proposer.h"
#include "sandbox/sandbox.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One candidate handed to the evaluator processes (jobs > 1). */
typedef struct {
    arc_candidate c; /* the pending row, finished when its answer comes */
    int deaths;      /* evaluators that died on it */
    double deadline; /* dc_now past which its evaluator is killed (0: none) */
    double budget;   /* its time budget, seconds */
    double sent;     /* dc_now when handed to its evaluator */
} dc_job;

/* Everything one run of a campaign carries around. */
typedef struct {
    dc_candidate_text *baselines; /* generation 0, resolved up front */
    int nbaselines;
    const dc_campaign_cfg *cfg;
    archive *a;
    int64_t campaign_id;
    const dc_task_ops *ops;
    dc_task *task;
    dc_prompts prompts;
    double beta;
    const char *fitness_description;
    dc_propose_settings propose_settings; /* what the proposer sees of cfg */
    volatile sig_atomic_t *stop;
    dc_ui ui;
    dc_campaign_summary *sum;
    dc_train_batch train; /* the task's first training batch: fingerprint shape, confirmation */
    arc_keepalive *keep;  /* the lease's heartbeat while this process runs the campaign */
    int lease_lost;       /* another process took the lease over: stop at once */
    char lost_msg[768];
    /* jobs > 1: the evaluator processes and the candidates waiting for one */
    int horizon; /* an evaluator's: see dup_visible */
    dc_evaluator *evs;
    dc_job **running; /* running[i]: the job of evs[i], NULL when idle */
    int nevs;
    dc_job **queue; /* waiting, oldest first */
    int nqueue, capqueue;
    cJSON *ev_init;     /* what every evaluator is started with */
    int forwarded_stop; /* SIGINT already passed on to the evaluators */
    double stop_seen;   /* when (dc_now) */
    /* LLM calls in flight (proposals.h): pool_step also wakes when one is done */
    int wake_fd;                        /* -1: none */
    /* GPUs the evaluators are pinned to (evaluator_gpu) */
    char gpus[DC_MAX_GPUS][64];
    int ngpus;
    int *gpu_noted; /* per evaluator: its GPU was said */
    volatile sig_atomic_t llm_cancel;   /* set on a stop: the calls in flight end early */
    /* in an evaluator process (no archive, R->a NULL): the campaign's answers */
    int ev_in, ev_out;    /* its pipes to the campaign */
    arc_candidate same;   /* the request's same_code candidate */
    int has_same;
} run_ctx;

/* The β the preference prompt states (the task's own answer; 0.05, DiscoPOP's, otherwise). */
static double task_beta(const dc_task_ops *ops, const dc_task *t)
{
    double beta = ops->prompt_beta ? ops->prompt_beta(t) : 0.05;
    return beta > 0 ? beta : 0.05;
}

static char *json_text(const cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    char *r = dc_strdup(s ? s : "{}");
    cJSON_free(s);
    return r;
}

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = dc_strdup(v ? v : "");
}

/* Copies the result of an earlier candidate into a duplicate. */
static void mark_duplicate(arc_candidate *c, const arc_candidate *orig, const char *why)
{
    set_str(&c->status, "duplicate");
    char msg[512];
    snprintf(msg, sizeof msg, "%s candidate %lld '%s'", why, (long long)orig->id, orig->name);
    set_str(&c->message, msg);
    c->duplicate_of = orig->id;
    c->has_fitness = orig->has_fitness;
    c->fitness = orig->fitness;
    c->test_metric = orig->test_metric;
    set_str(&c->metrics_json, orig->metrics_json);
}

double dc_default_candidate_timeout(double slowest_baseline_s)
{
    double t = DC_CANDIDATE_TIMEOUT_FACTOR * slowest_baseline_s;
    return t > DC_CANDIDATE_TIMEOUT_FLOOR ? t : DC_CANDIDATE_TIMEOUT_FLOOR;
}

/* The time budget of a proposed candidate's training and scoring (0: none): the configured
 * one, or the default from the seed baselines archived so far (generation 0, any that
 * finished). The baselines themselves have none: they set the scale. */
static double candidate_budget(run_ctx *R, const arc_candidate *c)
{
    if (c->generation == 0 || R->cfg->candidate_timeout_s == 0) return 0;
    if (R->cfg->candidate_timeout_s > 0) return R->cfg->candidate_timeout_s;
    arc_filter f = {.campaign_id = R->campaign_id, .status = "ok"};
    arc_candidate *cands;
    int n;
    char e[512];
    double slowest = 0;
    if (archive_candidate_list(R->a, &f, &cands, &n, e, sizeof e) != 0) return 0;
    for (int i = 0; i < n; i++)
        if (cands[i].generation == 0 && cands[i].seconds > slowest) slowest = cands[i].seconds;
    for (int i = 0; i < n; i++) arc_candidate_free(&cands[i]);
    free(cands);
    return dc_default_candidate_timeout(slowest);
}

/* The last generation whose results proposal gen sees when proposals run ahead of the
 * results by ahead generations (jobs > 1). Generation 0 is archived before the first
 * proposal, so every proposal sees it; a resumed campaign sees what an uninterrupted one
 * would have. */
static int seen_up_to(int gen, int ahead)
{
    return gen - ahead > 0 ? gen - ahead : 0;
}

/* With evaluations in parallel (an evaluator's horizon P > 0), a candidate may only be
 * the duplicate of one whose result was certain to be archived when it was proposed
 * (seen_up_to; none for a seed baseline, trained beside the others): otherwise the verdict
 * would depend on which evaluator happened to finish first. */
static int dup_visible(const run_ctx *R, const arc_candidate *c, const arc_candidate *o)
{
    if (R->horizon <= 0) return 1;
    return c->generation > 0 && o->generation <= seen_up_to(c->generation, R->horizon);
}

/* The earlier candidate whose result c may copy, from the archive of this process (the
 * campaign's): by code hash (fp NULL) or by behaviour fingerprint fp. 1 with *orig filled
 * (the caller frees it), 0 none or not visible to c, -1 archive error (in e). */
static int archive_lookup(run_ctx *R, const arc_candidate *c, const char *fp, arc_candidate *orig,
                          char *e, size_t ecap)
{
    int64_t id = 0;
    int r = fp ? archive_find_by_fingerprint(R->a, R->campaign_id, fp, &id, e, ecap)
               : archive_find_by_hash(R->a, R->campaign_id, c->code_hash, &id, e, ecap);
    if (r != 0 || id == c->id) return r < 0 ? -1 : 0;
    r = archive_candidate_get(R->a, id, orig, e, ecap);
    if (r != 0) return r < 0 ? -1 : 0;
    if (dup_visible(R, c, orig)) return 1;
    arc_candidate_free(orig);
    return 0;
}

/* The same, in an evaluator process (which never opens the archive): the same code came
 * with the request; the same behaviour is asked of the campaign, which looks it up as
 * above. */
static int evaluator_lookup(run_ctx *R, const arc_candidate *c, const char *fp,
                            arc_candidate *orig, char *e, size_t ecap)
{
    if (!fp) {
        if (!R->has_same) return 0;
        *orig = R->same;
        memset(&R->same, 0, sizeof R->same); /* moved to the caller */
        R->has_same = 0;
        return 1;
    }
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "same_behaviour", fp);
    cJSON_AddNumberToObject(q, "id", (double)c->id);
    int w = dc_msg_write(R->ev_out, q);
    cJSON_Delete(q);
    cJSON *a = w == 0 ? dc_msg_read(R->ev_in, e, ecap) : NULL;
    if (!a) {
        if (w != 0) dc_fmt(e, ecap, "the campaign is gone");
        return -1;
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(a, "orig");
    int r = cJSON_IsObject(o) ? 1 : 0;
    if (r && dc_orig_from_json(o, orig) != 0) {
        dc_fmt(e, ecap, "the campaign's answer about fingerprint %s is malformed", fp);
        r = -1;
    }
    cJSON_Delete(a);
    return r;
}

static int lookup_earlier(run_ctx *R, const arc_candidate *c, const char *fp, arc_candidate *orig,
                          char *e, size_t ecap)
{
    return R->a ? archive_lookup(R, c, fp, orig, e, ecap) : evaluator_lookup(R, c, fp, orig, e, ecap);
}

/* Screens, de-duplicates, trains and scores one candidate within budget seconds of
 * training (0: none): fills in its result fields, writes nothing. 0, or -1 on an archive
 * error (shown). */
static int evaluate_core(run_ctx *R, arc_candidate *c, double budget)
{
    double t0 = dc_now();
    char e[1024];
    arc_candidate orig;
    dc_ui_candidate_start(&R->ui, c);

    int r = lookup_earlier(R, c, NULL, &orig, e, sizeof e);
    if (r < 0) goto archive_error;
    if (r == 1) {
        mark_duplicate(c, &orig, "same code as");
        arc_candidate_free(&orig);
        goto finish;
    }

    sbx_worker *w = NULL;
    char fp[17] = "";
    int separable = 0;
    char msg[1024] = "";
    double ts = dc_now();
    dc_status st =
        dc_screen(R->ops, c->code, strlen(c->code), &R->train, &w, fp, &separable, msg, sizeof msg);
    dc_ui_screened(&R->ui, st, msg, separable, dc_now() - ts);
    if (st != DC_OK && *R->stop) {
        /* A failure while the user was stopping us is the stop's doing, not the
         * candidate's: record it as interrupted so --resume runs it again. */
        st = DC_INTERRUPTED;
        snprintf(msg, sizeof msg, "stopped by the user during screening; --resume runs it again");
    }
    if (st != DC_OK) {
        set_str(&c->status, dc_status_name(st));
        set_str(&c->message, msg);
        goto finish;
    }
    set_str(&c->fingerprint, fp);
    r = lookup_earlier(R, c, fp, &orig, e, sizeof e);
    if (r < 0) {
        sbx_close(w);
        goto archive_error;
    }
    if (r == 1) {
        /* A fingerprint is a hint, not proof: the fitness is copied only when both behave
         * the same on real training inputs too; otherwise this candidate trains. */
        char why[640] = "";
        int same = dc_confirm_same(R->ops, c->code, orig.code, &R->train, why, sizeof why);
        if (same) {
            sbx_close(w);
            mark_duplicate(c, &orig, "same behaviour (confirmed on a training batch) as");
            arc_candidate_free(&orig);
            goto finish;
        }
        dc_ui_note(&R->ui,
                   "candidate %lld '%s' has the fingerprint of candidate %lld but is trained: %s",
                   (long long)c->id, c->name, (long long)orig.id, why);
        arc_candidate_free(&orig);
    }

    dc_task_result res;
    dc_task_result_init(&res);
    dc_progress prog = dc_ui_progress(&R->ui, R->stop);
    sbx_set_time_budget(w, budget);
    dc_train_and_score(R->ops, R->task, w, R->cfg->seeds, R->cfg->nseeds, &prog, &res);
    sbx_close(w);
    if (res.status != DC_OK && *R->stop) res.status = DC_INTERRUPTED;
    set_str(&c->status, dc_status_name(res.status));
    if (res.status == DC_INTERRUPTED)
        snprintf(res.message, sizeof res.message,
                 "stopped by the user during training; --resume runs it again");
    set_str(&c->message, res.message);
    if (res.status == DC_OK) {
        c->has_fitness = 1;
        c->fitness = res.fitness;
        c->test_metric = res.test_metric;
    }
    free(c->metrics_json);
    c->metrics_json = json_text(res.metrics);
    dc_curves_free(&c->curves);
    dc_curves_append_all(&c->curves, &res.curves, NULL);
    dc_task_result_free(&res);

finish:
    c->seconds = dc_now() - t0;
    return 0;
archive_error:
    dc_ui_error(&R->ui, e);
    return -1;
}

/* Finishes a candidate's archive row with its result (one transaction). */
static int finish_candidate(run_ctx *R, arc_candidate *c)
{
    char e[1024];
    if (archive_candidate_finish(R->a, c, e, sizeof e) != 0) {
        dc_ui_error(&R->ui, e);
        return -1;
    }
    R->sum->candidates++;
    if (!strcmp(c->status, "ok") && c->has_fitness &&
        (R->sum->best_id == 0 || c->fitness > R->sum->best_fitness)) {
        R->sum->best_id = c->id;
        R->sum->best_fitness = c->fitness;
        R->sum->best_test = c->test_metric;
        snprintf(R->sum->best_name, sizeof R->sum->best_name, "%s", c->name);
    }
    dc_ui_candidate_done(&R->ui, c, R->sum);
    return 0;
}

/* Records which evaluator runs c and when it started (the report's evaluator timeline):
 * the wall clock now, to the microsecond, truncated, so that start + seconds never passes
 * the moment the next candidate of that evaluator starts. */
static void stamp_start(arc_candidate *c, int evaluator)
{
    char now[40];
    dc_utc_iso_at(dc_utc_epoch(), now, sizeof now);
    c->evaluator = evaluator;
    set_str(&c->eval_started_at, now);
}

/* The sequential path (jobs = 1): in this process, finished at once. The campaign process
 * is evaluator 0. */
static int evaluate_candidate(run_ctx *R, arc_candidate *c)
{
    stamp_start(c, 0);
    if (evaluate_core(R, c, candidate_budget(R, c)) != 0) return -1;
    return finish_candidate(R, c);
}

/* ---- jobs > 1: candidates evaluated by evaluator processes (evaluator.h) ----
 *
 * The campaign process inserts each row as pending, hands its id to an idle evaluator and
 * finishes the row when the answer comes: it stays the only archive writer. An evaluator
 * that dies (SIGKILL, OOM) has its candidate queued again, once; the second death records
 * it as crash with the reason. A new evaluator is started in its place when there is work. */

/* Seconds the evaluators get to answer after Ctrl-C. */
#define DC_DRAIN_GRACE_S 30.0
/* An evaluator silent for 1.5 times its candidate's budget, plus a slack for screening and
 * de-duplication (10 s, and up to 120 s more for long budgets), is killed and the candidate
 * recorded as timeout. */
static double watchdog_s(double budget)
{
    return 1.5 * budget + 10.0 + (budget < 120.0 ? budget : 120.0);
}

/* The binary re-executed as an evaluator: this one. */
static const char *self_exe(void)
{
    static char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return "discover";
    path[n] = 0;
    return path;
}

static int pool_on(const run_ctx *R)
{
    return R->evs != NULL;
}

/* Under MPI (mpi_pool.h) every candidate goes to an evaluator rank, even with one. */
static int pool_wanted(const dc_campaign_cfg *cfg)
{
    return cfg->jobs > 1 || dc_mpi_size() > 1;
}

/* What every evaluator is told: the effective settings, the campaign, its share of the CPU
 * threads and the proposal horizon. */
/* The GPU evaluator i runs on (an entry of dc_visible_gpus), NULL for the CPU: when the
 * task has a device option that is not "cpu" and GPUs are visible. */
static const char *evaluator_gpu(run_ctx *R, int i)
{
    if (R->ngpus <= 0) return NULL;
    int k = R->cfg->jobs_per_device > 0 ? R->cfg->jobs_per_device : 1;
    return R->gpus[(i / k) % R->ngpus];
}

static void pool_init(run_ctx *R, int in_flight)
{
    const dc_campaign_cfg *cfg = R->cfg;
    R->nevs = cfg->jobs;
    R->horizon = in_flight; /* what the campaign's look-ups for its evaluators use */
    R->evs = dc_calloc((size_t)R->nevs, sizeof *R->evs);
    R->running = dc_calloc((size_t)R->nevs, sizeof *R->running);
    /* under MPI evaluator i is rank i + 1 (rank 0 is this process); cmd_run set jobs to
     * the ranks but one */
    int mpi = dc_mpi_size() > 1;
    for (int i = 0; i < R->nevs; i++) {
        R->evs[i].to = R->evs[i].from = -1;
        R->evs[i].rank = mpi ? i + 1 : 0;
    }
    dc_ui_slots(&R->ui, R->nevs);
    cJSON *init = cJSON_CreateObject();
    cJSON_AddItemToObject(init, "settings", dc_campaign_settings_json(cfg));
    cJSON_AddNumberToObject(init, "campaign_id", (double)R->campaign_id);
    cJSON_AddNumberToObject(init, "horizon", in_flight);
    /* The cores are divided among the evaluators (at least one thread each) unless the
     * task's threads option was given. */
    int threads = 0, given = 0;
    for (int i = 0; i < cfg->ntask_opts; i++)
        given |= !strcmp(cfg->task_keys[i], "threads");
    if (!given && dc_option_find(R->ops->options, "threads")) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > R->nevs ? (int)(cores / R->nevs) : 1;
    }
    cJSON_AddNumberToObject(init, "threads", threads);
    /* an MPI rank divides its own node's cores instead (mpi_pool.c) */
    cJSON_AddBoolToObject(init, "threads_auto", threads > 0);
    R->ev_init = init;
    /* GPUs: only for a task with a device option, unless it asks for the CPU */
    R->ngpus = dc_campaign_gpus(cfg, R->gpus, DC_MAX_GPUS);
    R->gpu_noted = dc_calloc((size_t)R->nevs, sizeof *R->gpu_noted);
}

static void pool_close(run_ctx *R)
{
    for (int i = 0; i < R->nevs; i++) {
        dc_evaluator_stop(&R->evs[i], 5.0, NULL, 0);
        if (R->running[i]) {
            arc_candidate_free(&R->running[i]->c);
            free(R->running[i]);
        }
    }
    for (int i = 0; i < R->nqueue; i++) {
        arc_candidate_free(&R->queue[i]->c);
        free(R->queue[i]);
    }
    free(R->evs);
    free(R->running);
    free(R->queue);
    free(R->gpu_noted);
    R->gpu_noted = NULL;
    cJSON_Delete(R->ev_init);
    dc_ui_slots(&R->ui, 0);
    R->evs = NULL;
    R->running = R->queue = NULL;
    R->nevs = R->nqueue = R->capqueue = 0;
    R->ev_init = NULL;
}

static void queue_put(run_ctx *R, dc_job *j, int front)
{
    if (R->nqueue == R->capqueue) {
        R->capqueue = R->capqueue ? 2 * R->capqueue : 16;
        R->queue = dc_realloc(R->queue, (size_t)R->capqueue * sizeof *R->queue);
    }
    if (front) {
        memmove(R->queue + 1, R->queue, (size_t)R->nqueue * sizeof *R->queue);
        R->queue[0] = j;
    } else {
        R->queue[R->nqueue] = j;
    }
    R->nqueue++;
}

/* Takes the candidate over (c is left empty) and queues it. */
static void pool_submit(run_ctx *R, arc_candidate *c)
{
    dc_job *j = dc_calloc(1, sizeof *j);
    j->c = *c;
    memset(c, 0, sizeof *c);
    queue_put(R, j, 0);
}

/* Finishes a job's row, with status and message set here when why is not NULL. */
static int job_done(run_ctx *R, dc_job *j, const char *status, const char *why)
{
    if (status) {
        set_str(&j->c.status, status);
        set_str(&j->c.message, why);
        j->c.has_fitness = 0;
        /* no evaluator measured it: the time its evaluator held it */
        if (j->sent > 0) j->c.seconds = dc_now() - j->sent;
    }
    int rc = finish_candidate(R, &j->c);
    arc_candidate_free(&j->c);
    free(j);
    return rc;
}

/* Evaluator i died (or stopped answering) on its job: queued again once, then crash. */
static int evaluator_lost(run_ctx *R, int i, const char *what)
{
    char how[160];
    dc_evaluator_stop(&R->evs[i], 5.0, how, sizeof how);
    dc_job *j = R->running[i];
    R->running[i] = NULL;
    dc_ui_slot_idle(&R->ui, i);
    if (!j) return 0;
    char why[512];
    dc_fmt(why, sizeof why, "its evaluator process %s (%s)", how[0] ? how : "ended", what);
    if (*R->stop)
        return job_done(R, j, "interrupted",
                        "stopped by the user during evaluation; --resume "
                        "runs it again");
    if (++j->deaths < 2) {
        dc_ui_note(&R->ui, "candidate %lld '%s': %s; it runs again on a new evaluator",
                   (long long)j->c.id, j->c.name, why);
        queue_put(R, j, 1);
        return 0;
    }
    char msg[700];
    dc_fmt(msg, sizeof msg, "%s, twice: the candidate was tried on two evaluators", why);
    return job_done(R, j, "crash", msg);
}

/* Hands queued candidates to idle evaluators, starting those not running. */
static int pool_dispatch(run_ctx *R)
{
    for (int i = 0; i < R->nevs && R->nqueue > 0 && !*R->stop; i++) {
        if (R->running[i]) continue;
        dc_evaluator *ev = &R->evs[i];
        if (!ev->up) {
            char e[1024];
            /* its device: evaluator i on GPU (i / jobs_per_device) mod #GPUs */
            const char *gpu = R->evs[i].rank ? NULL : evaluator_gpu(R, i); /* MPI ranks pick their own */
            cJSON *init = cJSON_Duplicate(R->ev_init, 1);
            if (gpu) cJSON_AddStringToObject(init, "gpu", gpu);
            int started = dc_evaluator_start(ev, self_exe(), init, e, sizeof e);
            cJSON_Delete(init);
            if (started != 0) {
                dc_ui_error(&R->ui, e);
                return -1;
            }
            if (gpu && !R->gpu_noted[i]) {
                R->gpu_noted[i] = 1;
                dc_ui_note(&R->ui, "evaluator %d: GPU %s", i, gpu);
            }
        }
        dc_job *j = R->queue[0];
        memmove(R->queue, R->queue + 1, (size_t)(R->nqueue - 1) * sizeof *R->queue);
        R->nqueue--;
        R->running[i] = j;
        stamp_start(&j->c, i); /* before it can start: its start is never late */
        /* the request carries what the evaluation reads of the archive (evaluator.h): the
         * budget, and the visible candidate with the same code, looked up now as the
         * evaluator would have at its start */
        double budget = candidate_budget(R, &j->c);
        arc_candidate same;
        char e[512];
        int r = archive_lookup(R, &j->c, NULL, &same, e, sizeof e);
        if (r < 0) {
            dc_ui_error(&R->ui, e);
            return -1;
        }
        cJSON *req = dc_request_to_json(&j->c, budget, r == 1 ? &same : NULL);
        if (r == 1) arc_candidate_free(&same);
        int w = dc_msg_write(ev->to, req);
        cJSON_Delete(req);
        ev->cand = j->c.id;
        ev->started = dc_now();
        j->sent = ev->started;
        dc_ui_slot_start(&R->ui, i, &j->c);
        /* the budget is enforced inside the evaluator; this is the backstop for an
         * evaluator that stops answering altogether */
        j->deadline = budget > 0 ? ev->started + watchdog_s(budget) : 0;
        j->budget = budget;
        if (w != 0 && evaluator_lost(R, i, "it did not take the candidate") != 0) return -1;
    }
    return 0;
}

static int pool_running(const run_ctx *R)
{
    int n = 0;
    for (int i = 0; i < R->nevs; i++)
        n += R->running[i] != NULL;
    return n;
}

/* Answers evaluator i's question about the earlier candidate with fingerprint fp. 0 (an
 * evaluator that is gone is handled as lost), or -1 on an archive error. */
static int answer_fingerprint(run_ctx *R, int i, const char *fp)
{
    arc_candidate orig;
    char e[512];
    int r = archive_lookup(R, &R->running[i]->c, fp, &orig, e, sizeof e);
    if (r < 0) {
        dc_ui_error(&R->ui, e);
        return -1;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "orig", r == 1 ? dc_orig_to_json(&orig, 1) : cJSON_CreateNull());
    if (r == 1) arc_candidate_free(&orig);
    int w = dc_msg_write(R->evs[i].to, a);
    cJSON_Delete(a);
    return w == 0 ? 0 : evaluator_lost(R, i, "it did not take an answer");
}

/* Waits up to 200 ms for answers and handles those that came. Passes a stop on to the
 * evaluators (their training then ends as interrupted). 0, or -1 on a fatal error. */
static int pool_step(run_ctx *R)
{
    if (*R->stop && !R->forwarded_stop) {
        R->forwarded_stop = 1;
        R->stop_seen = dc_now();
        for (int i = 0; i < R->nevs; i++)
            dc_evaluator_signal(&R->evs[i], SIGINT);
    }
    /* training stops at its next step; an evaluator that has not answered long after the
     * stop is killed, its candidate recorded as interrupted */
    if (*R->stop && dc_now() - R->stop_seen > DC_DRAIN_GRACE_S)
        for (int i = 0; i < R->nevs; i++)
            if (R->running[i]) {
                dc_evaluator_signal(&R->evs[i], SIGKILL);
                if (evaluator_lost(R, i, "it did not stop after Ctrl-C") != 0) return -1;
            }
    for (int i = 0; i < R->nevs; i++) {
        dc_job *j = R->running[i];
        if (!j || j->deadline <= 0 || dc_now() < j->deadline) continue;
        char why[300];
        dc_fmt(why, sizeof why,
               "its evaluator gave no answer for %.0f s (the candidate's budget is %.0f s) and "
               "was killed",
               dc_now() - R->evs[i].started, j->budget);
        dc_evaluator_stop(&R->evs[i], 0.0, NULL, 0);
        R->running[i] = NULL;
        if (job_done(R, j, "timeout", why) != 0) return -1;
    }
    struct pollfd pf[257];
    int idx[257], n = 0;
    for (int i = 0; i < R->nevs && n < 256; i++)
        if (R->running[i]) {
            pf[n] = (struct pollfd){.fd = R->evs[i].from, .events = POLLIN};
            idx[n++] = i;
        }
    if (R->wake_fd >= 0) {
        pf[n] = (struct pollfd){.fd = R->wake_fd, .events = POLLIN};
        idx[n++] = -1;
    }
    if (n == 0) return 0;
    int pr = poll(pf, (nfds_t)n, 200);
    if (pr < 0 && errno != EINTR) {
        dc_ui_error(&R->ui, "poll on the evaluators failed");
        return -1;
    }
    for (int k = 0; k < n && pr > 0; k++) {
        if (!pf[k].revents) continue;
        int i = idx[k];
        if (i < 0) { /* an LLM call is done: the caller looks at it */
            char b[64];
            while (read(R->wake_fd, b, sizeof b) > 0) {
            }
            continue;
        }
        char e[256];
        cJSON *ans = dc_msg_read(R->evs[i].from, e, sizeof e);
        if (!ans) {
            if (evaluator_lost(R, i, e) != 0) return -1;
            continue;
        }
        dc_progress_msg pm;
        if (dc_progress_from_json(ans, &pm)) {
            /* how far its training is: shown; the answer comes later on the same pipe */
            dc_ui_slot_step(&R->ui, i, pm.id, pm.phase, pm.step, pm.steps);
            cJSON_Delete(ans);
            continue;
        }
        const cJSON *fatal = cJSON_GetObjectItemCaseSensitive(ans, "error");
        dc_job *j = R->running[i];
        const cJSON *fp = cJSON_GetObjectItemCaseSensitive(ans, "same_behaviour");
        if (cJSON_IsString(fp) && !cJSON_IsString(fatal)) {
            /* a question, not the answer: the earlier candidate with this behaviour */
            int rc = answer_fingerprint(R, i, fp->valuestring);
            cJSON_Delete(ans);
            if (rc != 0) return -1;
            continue;
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(ans, "id");
        if (cJSON_IsString(fatal) || !cJSON_IsNumber(id) || (int64_t)id->valuedouble != j->c.id) {
            char m[768];
            dc_fmt(m, sizeof m, "evaluator for candidate %lld: %s", (long long)j->c.id,
                   cJSON_IsString(fatal) ? fatal->valuestring : "an answer for another candidate");
            dc_ui_error(&R->ui, m);
            cJSON_Delete(ans);
            return -1;
        }
        int rc = dc_result_from_json(ans, &j->c, e, sizeof e);
        cJSON_Delete(ans);
        R->running[i] = NULL;
        R->evs[i].cand = 0;
        if (rc != 0)
            rc = job_done(R, j, "error", e);
        else
            rc = job_done(R, j, NULL, NULL);
        if (rc != 0) return -1;
    }
    return 0;
}

/* 1 while a candidate of generation <= gen is queued or being evaluated. */
static int pool_holds(const run_ctx *R, int gen)
{
    for (int i = 0; i < R->nqueue; i++)
        if (R->queue[i]->c.generation <= gen) return 1;
    for (int i = 0; i < R->nevs; i++)
        if (R->running[i] && R->running[i]->c.generation <= gen) return 1;
    return 0;
}

/* Runs the pool until every candidate of generation <= gen is archived, or, after a stop,
 * until every running one has answered (queued ones stay pending for --resume). */
static int pool_wait(run_ctx *R, int gen)
{
    for (;;) {
        if (*R->stop) {
            if (!pool_running(R)) return 0;
        } else {
            if (!pool_holds(R, gen)) return 0;
            if (pool_dispatch(R) != 0) return -1;
        }
        if (pool_step(R) != 0) return -1;
    }
}

/* 1 when this process no longer holds the campaign's lease (another process took it over
 * after this one's heartbeat stopped, e.g. while it was suspended): nothing more may be
 * added, or two processes would add generations. Checked before every new candidate and
 * every proposal, from the heartbeat thread's finding or a refresh made here. */
static int lease_lost(run_ctx *R)
{
    if (R->lease_lost) return 1;
    arc_lease owner;
    char e[512];
    int lost = archive_keepalive_lost(R->keep, &owner);
    if (!lost) {
        int r = archive_lease_heartbeat(R->a, R->campaign_id, &owner, e, sizeof e);
        lost = r == 1; /* a refresh that failed (busy) is retried by the next check */
    }
    if (!lost) return 0;
    R->lease_lost = 1;
    if (owner.pid)
        dc_fmt(R->lost_msg, sizeof R->lost_msg,
               "campaign '%s': process %lld on %s took over its lease (this process sent no "
               "heartbeat for more than %d s, for example while it was suspended); this "
               "process stops so that only one process runs the campaign",
               R->sum->campaign, owner.pid, owner.host, ARCHIVE_LEASE_STALE_S);
    else
        dc_fmt(R->lost_msg, sizeof R->lost_msg,
               "campaign '%s': this process no longer holds its lease (it was removed from the "
               "archive); it stops so that only one process runs the campaign",
               R->sum->campaign);
    return 1;
}

/* Inserts a new candidate (pending) and evaluates it. */
static int add_and_evaluate(run_ctx *R, int generation, const char *name, const char *thought,
                            const char *code, const int64_t *parents, int nparents,
                            int64_t llm_call_id, const char *parse_error)
{
    if (lease_lost(R)) return -1;
    arc_candidate c;
    memset(&c, 0, sizeof c);
    c.campaign_id = R->campaign_id;
    c.generation = generation;
    dc_sb p = {0};
    dc_sb_append(&p, "[");
    for (int i = 0; i < nparents; i++) dc_sb_printf(&p, "%s%lld", i ? "," : "", (long long)parents[i]);
    dc_sb_append(&p, "]");
    c.parents_json = dc_sb_take(&p);
    c.name = dc_strdup(name);
    c.thought = dc_strdup(thought ? thought : "");
    c.code = dc_strdup(code ? code : "");
    char hash[17];
    archive_code_hash(c.code, hash, sizeof hash);
    c.code_hash = dc_strdup(hash);
    c.fingerprint = dc_strdup("");
    c.status = dc_strdup(dc_status_name(parse_error ? DC_PARSE_ERROR : DC_PENDING));
    c.message = dc_strdup(parse_error ? parse_error : "");
    c.metrics_json = dc_strdup("{}");
    c.llm_call_id = llm_call_id;
    c.island = dc_island_of(generation, R->cfg->islands);
    char e[512];
    int rc = 0;
    if (archive_candidate_insert(R->a, &c, e, sizeof e) != 0) {
        dc_ui_error(&R->ui, e);
        rc = -1;
    } else if (parse_error) {
        R->sum->candidates++;
        dc_ui_candidate_done(&R->ui, &c, R->sum);
    } else if (pool_on(R)) {
        pool_submit(R, &c);
        rc = pool_dispatch(R);
    } else {
        rc = evaluate_candidate(R, &c);
    }
    arc_candidate_free(&c);
    return rc;
}

static int load_candidates(run_ctx *R, arc_candidate **out, int *n)
{
    arc_filter f = {.campaign_id = R->campaign_id, .with_code = 1};
    char e[512];
    if (archive_candidate_list(R->a, &f, out, n, e, sizeof e) != 0) {
        dc_ui_error(&R->ui, e);
        return -1;
    }
    return 0;
}

static void free_candidates(arc_candidate *c, int n)
{
    for (int i = 0; i < n; i++) arc_candidate_free(&c[i]);
    free(c);
}

/* Resume: an LLM reply archived just before a crash, whose candidate was never written,
 * becomes that generation's candidate now (no new call is paid for, no recorded reply of a
 * replay is skipped). */
static int adopt_orphan_calls(run_ctx *R)
{
    arc_llm_call *calls = NULL;
    int ncalls = 0;
    char e[512];
    if (archive_llm_call_list(R->a, R->campaign_id, &calls, &ncalls, e, sizeof e) != 0) {
        dc_ui_error(&R->ui, e);
        return -1;
    }
    arc_candidate *cands = NULL;
    int n = 0, rc = 0;
    if (ncalls > 0 && load_candidates(R, &cands, &n) != 0) rc = -1;
    for (int i = 0; i < ncalls && rc == 0; i++) {
        if (calls[i].error && *calls[i].error) continue;
        int used = 0;
        for (int j = 0; j < n && !used; j++) used = cands[j].llm_call_id == calls[i].id;
        if (used) continue;
        dc_proposal p;
        memset(&p, 0, sizeof p);
        if (dc_call_reply_bytes(&calls[i]) > DC_REPLY_LIMIT) {
            /* archived cut: the same verdict as when it arrived */
            dc_proposal_oversized(dc_call_reply_bytes(&calls[i]), calls[i].generation, &p);
        } else {
            char *content = dc_completion_content(calls[i].response_raw);
            dc_proposal_from_reply(content, "recorded response has no choices[0].message.content",
                                   calls[i].generation, &p);
            free(content);
        }
        dc_ui_note(&R->ui, "adopting the archived LLM reply %lld of generation %d (its candidate "
                           "was never written)", (long long)calls[i].id, calls[i].generation);
        R->ui.generation = calls[i].generation;
        rc = add_and_evaluate(R, calls[i].generation, p.text.name, p.text.thought, p.text.code, NULL, 0,
                              calls[i].id, p.parse_failed ? p.parse_error : NULL);
        dc_proposal_free(&p);
    }
    free_candidates(cands, n);
    for (int i = 0; i < ncalls; i++) arc_llm_call_free(&calls[i]);
    free(calls);
    if (rc == 0 && pool_on(R)) rc = pool_wait(R, INT_MAX);
    return rc;
}

/* Resume: candidates left pending (crash) or interrupted (Ctrl-C) run again, in place. */
static int rerun_unfinished(run_ctx *R)
{
    arc_candidate *cands;
    int n;
    if (load_candidates(R, &cands, &n) != 0) return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0 && !*R->stop; i++) {
        arc_candidate *c = &cands[i];
        if (dc_status_is_final(c->status)) continue;
        dc_ui_note(&R->ui, "re-running candidate %lld '%s' (left %s by the previous run)",
                   (long long)c->id, c->name, c->status);
        R->ui.generation = c->generation;
        if (pool_on(R)) {
            pool_submit(R, c);
            rc = pool_dispatch(R);
        } else {
            rc = evaluate_candidate(R, c);
        }
    }
    free_candidates(cands, n);
    /* jobs > 1: all of them archived before anything new is proposed */
    if (rc == 0 && pool_on(R)) rc = pool_wait(R, INT_MAX);
    return rc;
}

/* The seed baselines of generation 0, resolved before anything is trained or archived so a
 * missing file is a configuration error, not a failure halfway through. */
static int load_baselines(run_ctx *R, char *err, size_t errcap)
{
    sbx_kind kind = R->ops->kind;
    const char *proposer = strncmp(R->cfg->proposer, "replay:", 7) ? R->cfg->proposer : "replay";
    const char *defaults = dc_task_default_baselines(R->ops, proposer);
    if (!R->cfg->baselines[0] && !strcmp(defaults, "grammar")) {
        /* evolve's seeds are the same baselines written in its grammar, so their genomes
         * can be mutated. */
        int k = evolve_seed_count(kind);
        R->baselines = dc_calloc((size_t)k + 1, sizeof *R->baselines);
        for (int i = 0; i < k; i++) {
            evolve_proposal p = {0};
            if (evolve_seed(kind, i, &p) != 0) continue;
            R->baselines[R->nbaselines++] = p.text; // the strings move to the baseline
        }
        return 0;
    }
    char list[512];
    snprintf(list, sizeof list, "%s",
             R->cfg->baselines[0] ? R->cfg->baselines : defaults);
    R->baselines = dc_calloc(strlen(list) + 1, sizeof *R->baselines);
    char *save = NULL;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        char rel[256], path[4096], e[512];
        snprintf(rel, sizeof rel, "examples/objectives/%s/%s.c", R->cfg->task, name);
        if (dc_resource_path(rel, path, sizeof path, e, sizeof e) != 0) {
            dc_fmt(err, errcap,
                   "baseline '%s': no file %s (the baselines are file names without .c in "
                   "examples/objectives/%s/)",
                   name, rel, R->cfg->task);
            return -1;
        }
        char *code = dc_read_source(path, NULL, e, sizeof e);
        if (!code) {
            dc_fmt(err, errcap, "baseline '%s': %s", name, e);
            return -1;
        }
        char thought[600];
        snprintf(thought, sizeof thought, "Seed baseline %s (from %s).", name, rel);
        R->baselines[R->nbaselines++] = (dc_candidate_text){dc_strdup(name), dc_strdup(thought), code};
    }
    return 0;
}

static void free_baselines(run_ctx *R)
{
    for (int i = 0; i < R->nbaselines; i++) {
        dc_candidate_text_free(&R->baselines[i]);
    }
    free(R->baselines);
    R->baselines = NULL;
    R->nbaselines = 0;
}

/* Generation 0: the seed baselines, so the first prompt carries real fitness numbers. Each
 * one not yet archived is trained (a campaign stopped during generation 0 completes it on
 * --resume). */
static int run_baselines(run_ctx *R)
{
    arc_candidate *cands;
    int n;
    if (load_candidates(R, &cands, &n) != 0) return -1;
    int rc = 0, announced = 0;
    R->ui.generation = 0;
    for (int b = 0; b < R->nbaselines && rc == 0 && !*R->stop; b++) {
        int have = 0;
        for (int i = 0; i < n && !have; i++)
            have = cands[i].generation == 0 && !strcmp(cands[i].name, R->baselines[b].name);
        if (have) continue;
        if (!announced++)
            dc_ui_note(&R->ui, "generation 0: training the seed baselines");
        rc = add_and_evaluate(R, 0, R->baselines[b].name, R->baselines[b].thought,
                              R->baselines[b].code, NULL, 0, 0, NULL);
    }
    free_candidates(cands, n);
    /* jobs > 1: the baselines set the default time budget; all archived first */
    if (rc == 0 && pool_on(R)) rc = pool_wait(R, INT_MAX);
    return rc;
}

/* The best scored candidate already in the campaign (a resumed run's "best so far"). */
static int init_best(run_ctx *R)
{
    arc_filter f = {.campaign_id = R->campaign_id, .status = "ok", .top_k = 1};
    arc_candidate *c;
    int n;
    char e[512];
    if (archive_candidate_list(R->a, &f, &c, &n, e, sizeof e) != 0) {
        dc_ui_error(&R->ui, e);
        return -1;
    }
    if (n > 0 && c[0].has_fitness) {
        R->sum->best_id = c[0].id;
        R->sum->best_fitness = c[0].fitness;
        R->sum->best_test = c[0].test_metric;
        snprintf(R->sum->best_name, sizeof R->sum->best_name, "%s", c[0].name);
    }
    free_candidates(c, n);
    return 0;
}

/* One campaign, one process: takes the campaign's lease (refused while another live
 * process holds it; taken over, with a note, from a dead one) and starts its heartbeat. */
static int take_lease(run_ctx *R, char *err, size_t errcap)
{
    arc_lease prev;
    int took;
    char why[512];
    int r = archive_lease_acquire(R->a, R->campaign_id, &prev, &took, why, sizeof why, err, errcap);
    if (r < 0) return -1;
    if (r == 1) {
        dc_fmt(err, errcap,
               "campaign '%s' in %s is being run by process %lld on %s (since %s, last "
               "heartbeat %.0f s ago); two processes must not run one campaign: wait for it to "
               "finish, or stop it (kill %lld on %s) and then --resume. A lease whose process "
               "is gone, or whose heartbeat is older than %d s, is taken over automatically",
               R->sum->campaign, archive_path(R->a), prev.pid, prev.host, prev.started_at,
               prev.age_s, prev.pid, prev.host, ARCHIVE_LEASE_STALE_S);
        return -1;
    }
    if (took)
        dc_ui_note(&R->ui, "took over the lease of campaign '%s': %s (it held the lease since %s)",
                   R->sum->campaign, why, prev.started_at);
    R->keep = archive_lease_keepalive(archive_path(R->a), R->campaign_id, err, errcap);
    if (!R->keep) {
        char e[512];
        archive_lease_release(R->a, R->campaign_id, e, sizeof e);
        return -1;
    }
    return 0;
}

/* Stops the heartbeat and gives the lease up (unless another process holds it now). */
static void drop_lease(run_ctx *R)
{
    archive_keepalive_stop(R->keep);
    R->keep = NULL;
    char e[512];
    if (R->campaign_id && !R->lease_lost && !archive_is_damaged(R->a) &&
        archive_lease_release(R->a, R->campaign_id, e, sizeof e))
        dc_ui_error(&R->ui, e);
}

static int open_campaign(run_ctx *R, char *err, size_t errcap)
{
    const dc_campaign_cfg *cfg = R->cfg;
    arc_campaign c;
    char e[512];
    int r = archive_campaign_by_name(R->a, R->sum->campaign, &c, e, sizeof e);
    if (r < 0) {
        dc_fmt(err, errcap, "%s", e);
        return -1;
    }
    if (r == 0) {
        if (!cfg->resume) {
            dc_fmt(err, errcap,
                   "campaign '%s' already exists in %s; pass --resume to continue it, or choose "
                   "another name with --campaign",
                   R->sum->campaign, archive_path(R->a));
            arc_campaign_free(&c);
            return -1;
        }
        if (strcmp(c.task, cfg->task)) {
            dc_fmt(err, errcap, "campaign '%s' runs task %s, not %s; resume it with --task %s",
                   c.name, c.task, cfg->task, c.task);
            arc_campaign_free(&c);
            return -1;
        }
        R->campaign_id = c.id;
        arc_campaign_free(&c);
        if (take_lease(R, err, errcap) != 0) return -1;
        return archive_campaign_set_status(R->a, R->campaign_id, "running", err, errcap);
    }
    if (cfg->resume) {
        dc_fmt(err, errcap, "no campaign '%s' to resume in %s ('discover campaigns' lists them)",
               R->sum->campaign, archive_path(R->a));
        return -1;
    }
    cJSON *conf = cJSON_CreateObject();
    cJSON_AddItemToObject(conf, "settings", dc_campaign_settings_json(cfg));
    cJSON *tconf = R->ops->config_json(R->task);
    if (tconf) cJSON_AddItemToObject(conf, "task_config", tconf);
    arc_campaign nc;
    memset(&nc, 0, sizeof nc);
    nc.name = R->sum->campaign;
    nc.task = (char *)cfg->task;
    nc.config_json = json_text(conf);
    cJSON_Delete(conf);
    nc.proposer = (char *)cfg->proposer;
    nc.model = !strcmp(cfg->proposer, "llm") ? (char *)cfg->model : "";
    nc.seed = (int64_t)cfg->seed;
    nc.status = "running";
    int rc = archive_campaign_create(R->a, &nc, err, errcap);
    /* The archive fills in the timestamps (owned by the record); the rest is borrowed. */
    free(nc.created_at);
    free(nc.updated_at);
    free(nc.config_json);
    if (rc != 0) {
        /* Another process may have created it since we looked: say so as above. */
        char e[512];
        if (archive_campaign_by_name(R->a, R->sum->campaign, &c, e, sizeof e) == 0) {
            dc_fmt(err, errcap,
                   "campaign '%s' already exists in %s (another process just created it); "
                   "pass --resume to continue it, or choose another name with --campaign",
                   R->sum->campaign, archive_path(R->a));
            arc_campaign_free(&c);
        }
        return -1;
    }
    R->campaign_id = nc.id;
    return take_lease(R, err, errcap);
}

/* The outcome of the generation loops for dc_campaign_run. */
typedef enum { GEN_DONE, GEN_FATAL, GEN_LOST } gen_rc;

/* Builds the context of generation gen's proposal: the island's view of the candidates
 * (owned by the caller: free_candidates(*cands, *n)). With proposals ahead of the results
 * (horizon > 1) only results archived by then are shown: of the generations up to
 * seen_up_to(gen, horizon) when exact (offline proposers: reproducible), every finished one
 * when not (LLM calls in flight: "everything archived when the prompt is sent"). */
static int propose_ctx(run_ctx *R, int gen, int horizon, int exact, arc_candidate **cands,
                       int *n, dc_propose_ctx *ctx)
{
    if (load_candidates(R, cands, n) != 0) return -1;
    if (pool_on(R)) {
        int kept = 0;
        for (int i = 0; i < *n; i++) {
            arc_candidate *c = &(*cands)[i];
            int keep = exact ? c->generation <= seen_up_to(gen, horizon)
                             : dc_status_is_final(c->status);
            if (keep)
                (*cands)[kept++] = *c;
            else
                arc_candidate_free(c);
        }
        *n = kept;
    }
    int island = dc_island_of(gen, R->cfg->islands);
    dc_island_view(*cands, n, island, R->cfg->islands, R->cfg->migrate_every,
                   seen_up_to(gen, horizon));
    *ctx = (dc_propose_ctx){.a = R->a, .campaign_id = R->campaign_id, .generation = gen,
                            .island = island, .kind = R->ops->kind,
                            .system_prompt = R->ops->system_prompt, .cands = *cands,
                            .ncands = *n, .settings = &R->propose_settings,
                            .prompts = &R->prompts, .beta = R->beta,
                            .fitness_description = R->fitness_description};
    return 0;
}

/* Generations to send again (a failed call) or never written (calls in flight when a
 * previous run was killed): a small set, lowest first. */
typedef struct {
    int *g;
    int n, cap;
} gen_set;

static void gen_set_add(gen_set *s, int g)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->g = dc_realloc(s->g, (size_t)s->cap * sizeof *s->g);
    }
    int i = s->n++;
    for (; i > 0 && s->g[i - 1] > g; i--) s->g[i] = s->g[i - 1];
    s->g[i] = g;
}

static int gen_set_pop(gen_set *s)
{
    int g = s->g[0];
    memmove(s->g, s->g + 1, (size_t)(--s->n) * sizeof *s->g);
    return g;
}

/* The generations 1..upto without a candidate (their calls were in flight when a previous
 * run of the campaign was killed). */
static int missing_generations(run_ctx *R, int upto, gen_set *out)
{
    if (upto < 1) return 0;
    arc_candidate *cands;
    int n;
    if (load_candidates(R, &cands, &n) != 0) return -1;
    unsigned char *seen = dc_calloc((size_t)upto + 1, 1);
    for (int i = 0; i < n; i++)
        if (cands[i].generation >= 1 && cands[i].generation <= upto) seen[cands[i].generation] = 1;
    for (int g = 1; g <= upto; g++)
        if (!seen[g]) gen_set_add(out, g);
    free(seen);
    free_candidates(cands, n);
    return 0;
}

/* Generations from..cfg->generations with up to `ahead` LLM calls in flight at once (jobs >
 * 1 and a proposer with begin/send/finish). Proposal g is sent once every candidate up to
 * generation g - ahead is archived (the same horizon as with offline proposers), with
 * everything archived by then in its prompt. A reply's candidate is added and evaluated as
 * soon as it is back, whatever the order: a slow model holds up nothing but the proposals
 * that must see its result. A failed call is sent again (3 failures in a row stop the
 * campaign); generations left without a candidate by a killed run are sent first. After a
 * stop the calls in flight are cancelled and archived; a reply that came back is adopted by
 * --resume (adopt_orphan_calls). */
static gen_rc generations_async(run_ctx *R, dc_proposer *proposer, int from, int ahead)
{
    const dc_campaign_cfg *cfg = R->cfg;
    dc_campaign_summary *out = R->sum;
    char e[1024];
    gen_set redo = {0};
    if (missing_generations(R, from - 1, &redo) != 0) return GEN_FATAL;
    for (int i = 0; i < redo.n; i++)
        dc_ui_note(&R->ui, "generation %d has no candidate (its LLM call was in flight when the "
                           "campaign was stopped): it is proposed again", redo.g[i]);
    dc_inflight F;
    if (dc_inflight_init(&F, proposer, e, sizeof e) != 0) {
        dc_ui_error(&R->ui, e);
        free(redo.g);
        return GEN_FATAL;
    }
    R->wake_fd = dc_inflight_fd(&F);
    gen_rc rc = GEN_DONE;
    int next_gen = from; /* the next new generation to send */
    int failures = 0, sending = 1;
    for (;;) {
        if (*R->stop) break;
        if (lease_lost(R)) {
            rc = GEN_LOST;
            break;
        }
        /* send what may be sent: fewer than `ahead` out, and every candidate up to g - ahead
         * archived (none of those generations out or to be sent again, none evaluating) */
        while (sending && dc_inflight_count(&F) < ahead && !*R->stop) {
            int g = redo.n ? redo.g[0] : next_gen;
            if (g > cfg->generations) break;
            int open = redo.n ? redo.g[0] : INT_MAX;
            for (int k = 1; k <= seen_up_to(g, ahead) && open == INT_MAX; k++)
                if (dc_inflight_has(&F, k)) open = k;
            if (open <= seen_up_to(g, ahead) || pool_holds(R, seen_up_to(g, ahead))) break;
            arc_candidate *cands;
            int n;
            dc_propose_ctx ctx;
            if (propose_ctx(R, g, ahead, 0, &cands, &n, &ctx) != 0) {
                rc = GEN_FATAL;
                break;
            }
            ctx.calls_in_flight = dc_inflight_count(&F);
            dc_pending *p = NULL;
            dc_propose_rc prc = proposer->begin(proposer, &ctx, &p, e, sizeof e);
            free_candidates(cands, n);
            if (prc == DC_PROPOSE_BUDGET) {
                /* the calls out still count: their candidates are added below */
                snprintf(out->status, sizeof out->status, "budget");
                dc_fmt(out->note, sizeof out->note, "%s; no new proposals", e);
                sending = 0;
                break;
            }
            if (prc == DC_PROPOSE_OK && dc_inflight_start(&F, p, e, sizeof e) != 0)
                prc = DC_PROPOSE_FAILED;
            if (prc != DC_PROPOSE_OK) {
                dc_ui_error(&R->ui, e);
                snprintf(out->status, sizeof out->status, "failed");
                dc_fmt(out->note, sizeof out->note, "%s (fix the cause, then --resume)", e);
                sending = 0;
                break;
            }
            R->ui.generation = g;
            dc_ui_llm_out(&R->ui, dc_inflight_count(&F));
            if (redo.n && g == redo.g[0])
                gen_set_pop(&redo);
            else
                next_gen++;
        }
        if (rc != GEN_DONE) break;
        /* add the candidate of a call that is back */
        dc_pending *p = dc_inflight_take_any(&F, 0);
        if (p) {
            int g = dc_pending_generation(p);
            dc_ui_llm_out(&R->ui, dc_inflight_count(&F));
            dc_proposal prop;
            dc_propose_rc prc = proposer->finish(proposer, p, &prop, e, sizeof e);
            if (prc != DC_PROPOSE_OK) {
                dc_ui_error(&R->ui, e);
                if (++failures >= 3 || *R->stop) {
                    snprintf(out->status, sizeof out->status, "failed");
                    dc_fmt(out->note, sizeof out->note,
                           "%s (3 proposals in a row failed; fix the cause, then --resume)", e);
                    sending = 0;
                    break;
                }
                gen_set_add(&redo, g);
                continue;
            }
            failures = 0;
            R->ui.generation = g;
            dc_ui_proposal(&R->ui, &prop);
            int arc = add_and_evaluate(R, g, prop.text.name, prop.text.thought, prop.text.code,
                                       prop.parents, prop.nparents, prop.llm_call_id,
                                       prop.parse_failed ? prop.parse_error : NULL);
            dc_proposal_free(&prop);
            if (arc != 0) {
                rc = GEN_FATAL;
                break;
            }
            continue;
        }
        if (dc_inflight_count(&F) == 0 &&
            (!sending || (!redo.n && next_gen > cfg->generations)))
            break; /* nothing out and nothing more to send */
        if (pool_dispatch(R) != 0 || pool_step(R) != 0) {
            rc = GEN_FATAL;
            break;
        }
    }
    /* What is still out after a stop or a failure: cancelled, and every exchange archived
     * (a reply that came back is adopted by --resume); after an archive error, dropped. */
    R->llm_cancel = 1;
    for (dc_pending *p; (p = dc_inflight_take_any(&F, 1)) != NULL;) {
        dc_proposal prop;
        if (rc == GEN_DONE && proposer->finish(proposer, p, &prop, e, sizeof e) == DC_PROPOSE_OK)
            dc_proposal_free(&prop);
        else if (rc != GEN_DONE)
            proposer->discard(p);
    }
    dc_inflight_close(&F);
    dc_ui_llm_out(&R->ui, 0);
    R->wake_fd = -1;
    free(redo.g);
    return rc;
}

int dc_campaign_run(const dc_campaign_cfg *cfg, volatile sig_atomic_t *stop,
                    dc_campaign_summary *out, char *err, size_t errcap)
{
    static volatile sig_atomic_t never;
    run_ctx R;
    memset(&R, 0, sizeof R);
    R.train.kind = -1; /* nothing captured yet */
    R.wake_fd = -1;
    memset(out, 0, sizeof *out);
    R.cfg = cfg;
    R.sum = out;
    R.stop = stop ? stop : &never;
    snprintf(out->status, sizeof out->status, "finished");
    if (cfg->campaign[0]) {
        snprintf(out->campaign, sizeof out->campaign, "%s", cfg->campaign);
    } else {
        char ts[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
        snprintf(out->campaign, sizeof out->campaign, "%s-%s", cfg->task, ts);
    }

    R.ops = dc_task_find(cfg->task);
    if (!R.ops) {
        dc_fmt(err, errcap, "unknown task '%s' (tasks: %s)", cfg->task, dc_task_names());
        return -1;
    }
    if (dc_prompts_open(&R.prompts, cfg->prompts_dir[0] ? cfg->prompts_dir : NULL, err, errcap) != 0)
        return -1;
    dc_proposer *proposer = dc_proposer_from_spec(cfg->proposer, cfg->replay_campaign, err, errcap);
    if (!proposer) return -1;
    if (!strcmp(cfg->proposer, "llm") && !cfg->model[0]) {
        dc_fmt(err, errcap, "the llm proposer needs a model name (--model)");
        dc_proposer_destroy(proposer);
        return -1;
    }
    R.task = R.ops->create();
    for (int i = 0; i < cfg->ntask_opts; i++) {
        char e[512];
        if (R.ops->set_option(R.task, cfg->task_keys[i], cfg->task_vals[i], e, sizeof e) != 0) {
            if (cfg->task_origin[i][0])
                dc_fmt(err, errcap, "%s: %s", cfg->task_origin[i], e);
            else
                dc_fmt(err, errcap, "%s", e);
            goto fail_task;
        }
    }
    if (load_baselines(&R, err, errcap) != 0) goto fail_task;
    if (cfg->max_cost > 0 && !(cfg->llm.price_in_per_mtok > 0) && !(cfg->llm.price_out_per_mtok > 0))
        fprintf(stderr, "discover: warning: max_cost is set but price_in and price_out are 0, so "
                        "no cost is counted; set --price-in/--price-out (per million tokens)\n");
    R.beta = task_beta(R.ops, R.task);
    R.propose_settings = (dc_propose_settings){.seed = cfg->seed, .context = &cfg->context,
                                               .llm = cfg->llm, .max_calls = cfg->max_calls,
                                               .max_tokens = cfg->max_tokens,
                                               .max_cost = cfg->max_cost};
    R.propose_settings.llm.api_base = cfg->api_base;
    R.propose_settings.llm.model = cfg->model;
    R.propose_settings.model_weights = cfg->model_weights;
    R.propose_settings.model_select = cfg->model_select;
    R.propose_settings.model_cost_aware = cfg->model_cost_aware;
    R.propose_settings.price_in = cfg->price_in;
    R.propose_settings.price_out = cfg->price_out;
    R.propose_settings.prompt_style = cfg->prompt_style;
    if (!strcmp(cfg->proposer, "llm")) {
        dc_model_select check; /* the model lists, before any work: a clear message now */
        if (dc_msel_init(&check, cfg->model, cfg->model_weights, cfg->model_select,
                         cfg->model_cost_aware, cfg->price_in, cfg->price_out, err, errcap) != 0)
            goto fail_task;
        char sys[256]; /* and that the prompt style has this task's system prompt */
        if (dc_prompt_style_file(&R.prompts, cfg->prompt_style, R.ops->system_prompt, sys,
                                 sizeof sys, err, errcap) != 0)
            goto fail_task;
    }
    R.fitness_description = R.ops->fitness_description;
    dc_ui_init(&R.ui, cfg, out);
    /* The archive first: a bad path should not wait for the task's data and models. */
    if (archive_open(cfg->archive_path, ARC_CREATE, &R.a, err, errcap) != 0) goto fail_task;
    {
        dc_progress prep = dc_ui_progress(&R.ui, R.stop);
        if (R.ops->prepare(R.task, &prep, err, errcap) != 0) goto fail_archive;
        dc_ui_clear_line(&R.ui);
    }
    if (open_campaign(&R, err, errcap) != 0) goto fail_archive;
    out->campaign_id = R.campaign_id;
    {
        /* The real inputs of a training step, once per run: every fingerprint covers their
         * batch size and every behavioural match is confirmed on them. */
        char e[512];
        if (dc_capture_train_batch(R.ops, R.task, cfg->seeds[0], &R.train, e, sizeof e) != 0)
            dc_ui_note(&R.ui,
                       "note: no training batch to confirm behavioural duplicates on (%s); "
                       "they are trained, not copied",
                       e);
    }
    if (init_best(&R) != 0) goto fatal;
    dc_ui_campaign_start(&R.ui, archive_path(R.a), proposer->kind);

    /* in_flight: how many generations a proposal runs ahead of the results it sees */
    int ahead = pool_wanted(cfg) ? (cfg->in_flight > 0 ? cfg->in_flight : cfg->jobs) : 1;
    if (pool_wanted(cfg)) pool_init(&R, ahead);
    if (rerun_unfinished(&R) != 0 || adopt_orphan_calls(&R) != 0 || run_baselines(&R) != 0)
        goto fatal;

    int gen0 = 0, failures = 0;
    char e[1024];
    if (archive_max_generation(R.a, R.campaign_id, &gen0, e, sizeof e) != 0) {
        dc_ui_error(&R.ui, e);
        goto fatal;
    }
    int first_gen = (gen0 < 0 ? 0 : gen0) + 1;
    if (pool_on(&R) && proposer->begin) {
        /* LLM calls in flight while others train (generations_async) */
        R.propose_settings.llm.cancel = &R.llm_cancel;
        gen_rc grc = generations_async(&R, proposer, first_gen, ahead);
        if (grc == GEN_LOST) goto lost;
        if (grc == GEN_FATAL) goto fatal;
        first_gen = cfg->generations + 1; /* the sequential loop has nothing left to do */
    }
    for (int gen = first_gen; gen <= cfg->generations;) {
        if (*R.stop) break;
        if (lease_lost(&R)) goto lost; /* before paying for a proposal */
        /* jobs > 1: proposal gen sees exactly the candidates of generations up to
         * seen_up_to(gen, ahead), whatever the timing (the same seed, jobs and in_flight
         * give the same campaign) */
        if (pool_on(&R) && pool_wait(&R, seen_up_to(gen, ahead)) != 0) goto fatal;
        if (*R.stop) break;
        arc_candidate *cands;
        int n;
        dc_propose_ctx ctx;
        if (propose_ctx(&R, gen, ahead, 1, &cands, &n, &ctx) != 0) goto fatal;
        R.ui.generation = gen;
        dc_ui_proposing(&R.ui);
        dc_proposal p;
        memset(&p, 0, sizeof p);
        dc_propose_rc prc = proposer->propose(proposer, &ctx, &p, e, sizeof e);
        free_candidates(cands, n);
        if (prc == DC_PROPOSE_EXHAUSTED) {
            dc_fmt(out->note, sizeof out->note, "%s", e);
            break;
        }
        if (prc == DC_PROPOSE_BUDGET) {
            snprintf(out->status, sizeof out->status, "budget");
            dc_fmt(out->note, sizeof out->note, "%s; no new proposals", e);
            break;
        }
        if (prc == DC_PROPOSE_FAILED) {
            dc_ui_error(&R.ui, e);
            if (++failures >= 3 || *R.stop) {
                snprintf(out->status, sizeof out->status, "failed");
                dc_fmt(out->note, sizeof out->note,
                       "%s (3 proposals in a row failed; fix the cause, then --resume)", e);
                break;
            }
            continue;
        }
        failures = 0;
        dc_ui_proposal(&R.ui, &p);
        int rc = add_and_evaluate(&R, gen, p.text.name, p.text.thought, p.text.code, p.parents, p.nparents,
                                  p.llm_call_id, p.parse_failed ? p.parse_error : NULL);
        dc_proposal_free(&p);
        if (rc != 0) goto fatal;
        gen++;
    }
    /* jobs > 1: the candidates still out are archived (or, after a stop, answered as
     * interrupted) before the campaign ends */
    if (pool_on(&R) && pool_wait(&R, INT_MAX) != 0) goto fatal;
    pool_close(&R);
    if (*R.stop) {
        snprintf(out->status, sizeof out->status, "interrupted");
        snprintf(out->note, sizeof out->note,
                 "stopped by the user; 'discover run --campaign %s --archive %s --resume' "
                 "continues it",
                 out->campaign, archive_path(R.a));
    } else if (!out->note[0] && out->candidates == 0 && gen0 >= cfg->generations) {
        snprintf(out->note, sizeof out->note,
                 "the campaign already has %d generations; pass --generations N (N > %d) with "
                 "--resume to extend it",
                 gen0, gen0);
    }
    archive_campaign_set_status(R.a, R.campaign_id, out->status, e, sizeof e);
    drop_lease(&R);
    dc_train_batch_free(&R.train);
    dc_ui_campaign_done(&R.ui);
    archive_close(R.a);
    R.ops->destroy(R.task);
    free_baselines(&R);
    dc_proposer_destroy(proposer);
    return 0;

fatal:
    if (R.lease_lost) goto lost;
    snprintf(out->status, sizeof out->status, "failed");
    if (archive_is_damaged(R.a)) {
        /* Nothing more is written to a damaged file; --resume on it would fail the same
         * way, so the message says how to get the rows out instead. */
        const char *p = archive_path(R.a);
        dc_fmt(err, errcap,
               "campaign '%s' stopped: archive %s is damaged (see above). Stop writing to it "
               "and keep a copy; recover what it holds into a new file with sqlite3 '%s' "
               ".recover | sqlite3 '%s.recovered', then continue with --resume --archive "
               "'%s.recovered' (or restore the archive from a backup)",
               out->campaign, p, p, p, p);
    } else {
        archive_campaign_set_status(R.a, R.campaign_id, "failed", e, sizeof e);
        dc_fmt(err, errcap,
               "campaign '%s' stopped on an archive error (see above); nothing archived was "
               "lost, --resume continues it",
               out->campaign);
    }
    goto fail_archive;
lost:
    /* The campaign is another process's now: its status is that process's to set. */
    snprintf(out->status, sizeof out->status, "failed");
    dc_fmt(err, errcap, "%s", R.lost_msg);
fail_archive:
    pool_close(&R);
    drop_lease(&R);
    dc_train_batch_free(&R.train);
    archive_close(R.a);
fail_task:
    R.ops->destroy(R.task);
    free_baselines(&R);
    dc_proposer_destroy(proposer);
    return -1;
}

/* ---- the evaluator process (jobs > 1; evaluator.h) ---- */

static int answer_error(int out_fd, const char *why)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", why);
    int rc = dc_msg_write(out_fd, o);
    cJSON_Delete(o);
    return rc;
}

/* Sets up what evaluate_core needs from the campaign's settings: the task (prepared, its
 * training batch captured). The archive is not opened: it may be on another machine. */
static int evaluator_setup(run_ctx *R, dc_campaign_cfg *cfg, const cJSON *init, char *err,
                           size_t errcap)
{
    char *text = cJSON_PrintUnformatted(init);
    int rc = dc_campaign_apply_settings(cfg, text, err, errcap);
    cJSON_free(text);
    if (rc != 0) return -1;
    cfg->quiet = 1; /* the campaign process speaks for it */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(init, "campaign_id");
    const cJSON *horizon = cJSON_GetObjectItemCaseSensitive(init, "horizon");
    const cJSON *threads = cJSON_GetObjectItemCaseSensitive(init, "threads");
    if (!cJSON_IsNumber(id) || !cJSON_IsNumber(horizon)) {
        dc_fmt(err, errcap, "its configuration lacks campaign_id or horizon");
        return -1;
    }
    R->campaign_id = (int64_t)id->valuedouble;
    R->horizon = horizon->valueint;
    /* pinned to one GPU: it is device 0 of this process (set before CUDA is initialised,
     * which happens when the task prepares its backend) */
    const cJSON *gpu = cJSON_GetObjectItemCaseSensitive(init, "gpu");
    if (cJSON_IsString(gpu) &&
        (setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1) != 0 ||
         setenv("CUDA_VISIBLE_DEVICES", gpu->valuestring, 1) != 0)) {
        dc_fmt(err, errcap, "cannot set CUDA_VISIBLE_DEVICES=%s", gpu->valuestring);
        return -1;
    }
    R->ops = dc_task_find(cfg->task);
    if (!R->ops) {
        dc_fmt(err, errcap, "unknown task '%s' (tasks: %s)", cfg->task, dc_task_names());
        return -1;
    }
    R->task = R->ops->create();
    for (int i = 0; i < cfg->ntask_opts; i++)
        if (R->ops->set_option(R->task, cfg->task_keys[i], cfg->task_vals[i], err, errcap) != 0)
            return -1;
    int nthreads = cJSON_IsNumber(threads) ? threads->valueint : 0;
    /* the campaign's share of its own cores; an MPI rank's relay knows this node's
     * (DISCOVER_MPI_THREADS, mpi_pool.c) */
    const char *node = getenv("DISCOVER_MPI_THREADS");
    if (nthreads > 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(init, "threads_auto")) &&
        node && atoi(node) > 0)
        nthreads = atoi(node);
    if (nthreads > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", nthreads);
        if (R->ops->set_option(R->task, "threads", v, err, errcap) != 0) return -1;
    }
    dc_ui_init(&R->ui, cfg, R->sum);
    dc_progress prep = dc_ui_progress(&R->ui, R->stop);
    if (R->ops->prepare(R->task, &prep, err, errcap) != 0) return -1;
    char e[512];
    if (dc_capture_train_batch(R->ops, R->task, cfg->seeds[0], &R->train, e, sizeof e) != 0)
        R->train.kind = -1; /* as in the campaign: behavioural duplicates are then trained */
    return 0;
}

int dc_evaluator_main(int in_fd, int out_fd)
{
    static volatile sig_atomic_t stop;
    dc_stop_signal_install(&stop);
    char err[1024];
    cJSON *init = dc_msg_read(in_fd, err, sizeof err);
    if (!init) {
        fprintf(stderr,
                "discover __evaluator: no configuration (%s); this command is started "
                "by 'discover run --jobs N', not by hand\n",
                err);
        return 1;
    }
    dc_campaign_cfg cfg;
    dc_campaign_cfg_default(&cfg);
    dc_campaign_summary sum;
    memset(&sum, 0, sizeof sum);
    run_ctx R;
    memset(&R, 0, sizeof R);
    R.train.kind = -1;
    R.wake_fd = -1;
    R.cfg = &cfg;
    R.sum = &sum;
    R.stop = &stop;
    R.ev_in = in_fd;
    R.ev_out = out_fd;
    int rc = evaluator_setup(&R, &cfg, init, err, sizeof err);
    cJSON_Delete(init);
    if (rc != 0) {
        answer_error(out_fd, err);
    } else {
        cJSON *ready = cJSON_CreateObject();
        cJSON_AddBoolToObject(ready, "ready", 1);
        rc = dc_msg_write(out_fd, ready);
        cJSON_Delete(ready);
    }
    /* training progress goes to the campaign's status line (after ready: the campaign
     * reads nothing else before it) */
    dc_progress_relay relay = {.fd = out_fd};
    R.ui.relay = dc_progress_relay_step;
    R.ui.relay_ctx = &relay;
    /* one candidate at a time until the campaign closes the pipe */
    while (rc == 0) {
        cJSON *req = dc_msg_read(in_fd, err, sizeof err);
        if (!req) break;
        arc_candidate c;
        double budget = 0;
        int r = dc_request_from_json(req, &c, &budget, &R.same, &R.has_same, err, sizeof err);
        cJSON_Delete(req);
        if (r != 0) {
            answer_error(out_fd, err);
            arc_candidate_free(&c);
            rc = -1;
            break;
        }
        /* fault injection for the tests: an evaluator killed on this candidate, the way the
         * kernel's OOM killer would */
        const char *fault = getenv("DISCOVER_TEST_EVALUATOR_DIES_ON");
        if (fault && c.name && !strcmp(fault, c.name)) raise(SIGKILL);
        /* and one that hangs on this generation without ever answering */
        const char *hang = getenv("DISCOVER_TEST_EVALUATOR_HANGS_AT");
        if (hang && atoi(hang) == c.generation)
            for (;;)
                pause();
        relay.id = c.id;
        relay.last = 0;
        int ev = evaluate_core(&R, &c, budget);
        relay.id = 0;
        if (R.has_same) arc_candidate_free(&R.same); /* not asked for: trained after all */
        R.has_same = 0;
        if (ev != 0) {
            answer_error(out_fd, "a question to the campaign failed (see the evaluator's "
                                 "message above)");
            arc_candidate_free(&c);
            rc = -1;
            break;
        }
        cJSON *ans = dc_result_to_json(&c);
        rc = dc_msg_write(out_fd, ans);
        cJSON_Delete(ans);
        arc_candidate_free(&c);
    }
    dc_train_batch_free(&R.train);
    if (R.task) R.ops->destroy(R.task);
    return rc == 0 ? 0 : 1;
}
