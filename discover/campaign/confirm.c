/* confirm.c — re-trains a campaign's top candidates on fresh seeds (confirm.h), through the
 * one check pipeline (dc_screen, dc_train_and_score: the candidate runs only in its sandbox
 * worker), and records each seed as an evaluation with purpose 'confirm'. */
#include "confirm.h"

#include "archive/archive.h"
#include "common/safe_text.h"
#include "common/util.h"
#include "discover/campaign/campaign.h"
#include "discover/campaign/evaluate.h"
#include "inner_loop/task.h"
#include "sandbox/sandbox.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dc_confirm_default_seeds(uint64_t campaign_seed, int *seeds, int cap)
{
    int n = cap < DC_CONFIRM_DEFAULT_NSEEDS ? cap : DC_CONFIRM_DEFAULT_NSEEDS;
    for (int i = 0; i < n; i++)
        seeds[i] = (int)((campaign_seed + DC_CONFIRM_SEED_OFFSET + (uint64_t)i) & 0x3fffffff);
    return n;
}

/* What confirmation needs of the archive, read through a read-only connection that is
 * closed again before any training. */
typedef struct {
    arc_campaign camp;
    dc_campaign_cfg cfg; /* the campaign's archived settings (task options, search seeds) */
    arc_candidate *cands; /* the top by search fitness, with code */
    int ncands;
} confirm_input;

static void input_free(confirm_input *in)
{
    for (int i = 0; i < in->ncands; i++)
        arc_candidate_free(&in->cands[i]);
    free(in->cands);
    arc_campaign_free(&in->camp);
    memset(in, 0, sizeof *in);
}

static int load_input(const char *path, const char *name, int top, confirm_input *in, char *err,
                      size_t errcap)
{
    char e[1024];
    archive *a = NULL;
    memset(in, 0, sizeof *in);
    if (archive_open(path, ARC_READONLY, &a, e, sizeof e) != 0) {
        dc_fmt(err, errcap, "%s", e);
        return -1;
    }
    int got = archive_campaign_by_name(a, name, &in->camp, e, sizeof e);
    if (got != 0) {
        if (got > 0)
            dc_fmt(err, errcap, "no campaign '%s' in %s ('discover campaigns' lists them)", name,
                   path);
        else
            dc_fmt(err, errcap, "%s", e);
        archive_close(a);
        return -1;
    }
    dc_campaign_cfg_default(&in->cfg);
    if (dc_campaign_apply_settings(&in->cfg, in->camp.config_json, e, sizeof e) != 0) {
        dc_fmt(err, errcap, "campaign '%s': its archived settings: %s", name, e);
        archive_close(a);
        arc_campaign_free(&in->camp);
        return -1;
    }
    arc_filter f = {.campaign_id = in->camp.id, .status = "ok", .top_k = top, .with_code = 1};
    int rc = archive_candidate_list(a, &f, &in->cands, &in->ncands, e, sizeof e);
    archive_close(a);
    if (rc != 0) {
        dc_fmt(err, errcap, "%s", e);
        input_free(in);
        return -1;
    }
    if (in->ncands == 0) {
        dc_fmt(err, errcap, "campaign '%s' has no scored candidate to confirm yet", name);
        input_free(in);
        return -1;
    }
    return 0;
}

/* 1 when candidate id already has a confirmation on seed. */
static int already_confirmed(archive *a, int64_t id, int seed, int *done, char *err, size_t errcap)
{
    arc_evaluation *evs = NULL;
    int n = 0;
    if (archive_evaluation_list(a, id, &evs, &n, err, errcap) != 0) return -1;
    *done = 0;
    for (int i = 0; i < n; i++) {
        *done |= evs[i].seed == seed && evs[i].purpose && !strcmp(evs[i].purpose, "confirm");
        arc_evaluation_free(&evs[i]);
    }
    free(evs);
    return 0;
}

static int record(archive *a, int64_t id, const char *task, int seed, const char *params,
                  const dc_task_result *res, char *err, size_t errcap)
{
    arc_evaluation ev;
    memset(&ev, 0, sizeof ev);
    ev.candidate_id = id;
    ev.task = (char *)task;
    ev.seed = seed;
    ev.params_json = (char *)params;
    ev.status = (char *)dc_status_name(res->status);
    ev.message = (char *)res->message;
    ev.fitness = res->fitness;
    ev.test_metric = res->test_metric;
    char *m = res->metrics ? cJSON_PrintUnformatted(res->metrics) : NULL;
    ev.metrics_json = m ? m : "{}";
    ev.seconds = res->seconds;
    ev.curves = res->curves;
    ev.purpose = "confirm";
    int rc = archive_evaluation_insert(a, &ev, err, errcap);
    free(ev.created_at); /* set by the archive; the other fields are borrowed */
    cJSON_free(m);
    return rc;
}

/* Confirms one candidate on the seeds not yet confirmed; a failing seed is recorded and
 * ends the candidate (its worker is gone). */
static int confirm_one(archive *a, const dc_task_ops *ops, dc_task *task, const char *params,
                       const arc_candidate *c, const int *seeds, int nseeds, int quiet,
                       char *err, size_t errcap)
{
    sbx_worker *w = NULL;
    for (int s = 0; s < nseeds; s++) {
        int done = 0;
        if (already_confirmed(a, c->id, seeds[s], &done, err, errcap) != 0) {
            sbx_close(w);
            return -1;
        }
        if (done) continue;
        dc_task_result res;
        dc_task_result_init(&res);
        if (!w) {
            char fp[17];
            int sep;
            res.status = dc_screen(ops, c->code, strlen(c->code), NULL, &w, fp, &sep, res.message,
                                   sizeof res.message);
        }
        if (w) dc_train_and_score(ops, task, w, &seeds[s], 1, NULL, &res);
        int rc = record(a, c->id, ops->name, seeds[s], params, &res, err, errcap);
        if (!quiet) {
            dc_safe_pool sp = {0};
            fprintf(stderr, "confirm #%lld '%s' seed %d: %s fitness %.4f test %.4f (%.1f s)\n",
                    (long long)c->id, dc_safe(&sp, c->name, DC_SAFE_LINE), seeds[s],
                    dc_status_name(res.status), res.fitness, res.test_metric, res.seconds);
            dc_safe_free(&sp);
        }
        dc_status st = res.status;
        dc_task_result_free(&res);
        if (rc != 0) {
            sbx_close(w);
            return -1;
        }
        if (st != DC_OK) break;
    }
    sbx_close(w);
    return 0;
}

int dc_confirm_campaign(const char *archive_path, const char *campaign, int top, const int *seeds,
                        int nseeds, int quiet, char *err, size_t errcap)
{
    if (top < 1) {
        dc_fmt(err, errcap, "confirm: --top must be at least 1 (got %d)", top);
        return -1;
    }
    confirm_input in;
    if (load_input(archive_path, campaign, top, &in, err, errcap) != 0) return -1;
    int fresh[DC_MAX_SEEDS];
    if (!seeds || nseeds <= 0) {
        nseeds = dc_confirm_default_seeds((uint64_t)in.camp.seed, fresh, DC_MAX_SEEDS);
        seeds = fresh;
    }
    /* Seeds the search trained on would confirm nothing: the same runs again. */
    for (int s = 0; s < nseeds; s++)
        for (int k = 0; k < in.cfg.nseeds; k++)
            if (seeds[s] == in.cfg.seeds[k]) {
                dc_fmt(err, errcap,
                       "seed %d is one of the %d training seed%s campaign '%s' searched with; "
                       "confirm on seeds the search never used, e.g. --seeds %d-%d (the "
                       "default)",
                       seeds[s], in.cfg.nseeds, in.cfg.nseeds == 1 ? "" : "s", campaign,
                       (int)in.camp.seed + DC_CONFIRM_SEED_OFFSET,
                       (int)in.camp.seed + DC_CONFIRM_SEED_OFFSET + 2);
                input_free(&in);
                return -1;
            }
    const dc_task_ops *ops = dc_task_find(in.camp.task);
    if (!ops) {
        dc_fmt(err, errcap, "campaign '%s' is of task '%s', which this build does not have",
               campaign, in.camp.task);
        input_free(&in);
        return -1;
    }
    char e[1024];
    int rc = -1;
    archive *a = NULL;
    char *params = NULL;
    dc_task *task = ops->create();
    for (int i = 0; i < in.cfg.ntask_opts; i++)
        if (ops->set_option(task, in.cfg.task_keys[i], in.cfg.task_vals[i], e, sizeof e) != 0) {
            dc_fmt(err, errcap, "campaign '%s': archived task option %s: %s", campaign,
                   in.cfg.task_keys[i], e);
            goto out;
        }
    if (ops->prepare(task, NULL, e, sizeof e) != 0) {
        dc_fmt(err, errcap, "%s", e);
        goto out;
    }
    if (archive_open(archive_path, 0, &a, e, sizeof e) != 0) {
        dc_fmt(err, errcap, "%s", e);
        goto out;
    }
    cJSON *tconf = ops->config_json(task);
    params = tconf ? cJSON_PrintUnformatted(tconf) : NULL;
    cJSON_Delete(tconf);
    rc = 0;
    for (int i = 0; i < in.ncands && rc == 0; i++)
        rc = confirm_one(a, ops, task, params ? params : "{}", &in.cands[i], seeds, nseeds, quiet,
                         err, errcap);
out:
    cJSON_free(params);
    archive_close(a);
    ops->destroy(task);
    input_free(&in);
    return rc;
}
