/* cmd_replay.c — `discover replay ID`: train and score an archived candidate again.
 *
 * More seeds, other β, more steps or another task: each seed's result is recorded as an
 * evaluation of the candidate (the candidate's own row is never changed). */
#include "cli.h"

#include "archive/archive.h"
#include "common/safe_text.h"
#include "discover/campaign/campaign.h"
#include "common/util.h"
#include "discover/campaign/evaluate.h"
#include "inner_loop/task.h"
#include "sandbox/sandbox.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void replay_help(void)
{
    printf("Usage: discover replay ID [OPTIONS]\n\n"
           "Trains and scores archived candidate ID again and records one evaluation per seed.\n"
           "The task options start from the candidate's campaign; flags override them.\n\n"
           "  --archive PATH   archive (default $DISCOVER_ARCHIVE or ./discover.db)\n"
           "  --seeds LIST     training seeds, e.g. 1,2,3 or 1-5 (default 1,2,3)\n"
           "  --steps N        training steps\n"
           "  --task T         another task with the same interface\n"
           "  --beta LIST      preference tasks: β values, e.g. 0.05,0.1,0.5\n"
           "  --set KEY=VALUE  any task option (repeatable)\n"
           "  --json           print the evaluations as JSON on stdout\n\n"
           "Exit status: 0 all seeds trained, 1 usage error, 2 the candidate failed.\n");
}

/* Task options of the candidate's campaign, from its archived settings. */
static int apply_campaign_options(const dc_task_ops *ops, dc_task *t, const char *config_json,
                                  int same_task, char *err, size_t errcap)
{
    if (!same_task) return 0;
    dc_campaign_cfg c;
    dc_campaign_cfg_default(&c);
    char e[512];
    if (dc_campaign_apply_settings(&c, config_json, e, sizeof e) != 0) return 0; /* none archived */
    for (int i = 0; i < c.ntask_opts; i++)
        if (ops->set_option(t, c.task_keys[i], c.task_vals[i], e, sizeof e) != 0) {
            dc_fmt(err, errcap, "archived task option %s: %s", c.task_keys[i], e);
            return -1;
        }
    return 0;
}

/* The command line of `discover replay`. */
typedef struct {
    const char *archive_path, *task_name, *id_text;
    int seeds[DC_MAX_SEEDS], nseeds, json;
    const char *opt_keys[DC_MAX_TASK_OPTIONS], *opt_vals[DC_MAX_TASK_OPTIONS];
    char opt_store[DC_MAX_TASK_OPTIONS][320];
    int nopts;
    long id;
} replay_args;

/* Parses argv into r; -1 after printing --help (rc EXIT_OK) or a usage error (rc). */
static int parse_args(const char *cmd, int argc, char **argv, replay_args *r, int *rc)
{
    char e[1024];
    *r = (replay_args){.archive_path = archive_default_path(), .seeds = {1, 2, 3}, .nseeds = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            replay_help();
            *rc = EXIT_OK;
            return -1;
        }
        if (!strcmp(a, "--json")) {
            r->json = 1;
            continue;
        }
        if (strncmp(a, "--", 2)) {
            if (r->id_text) return *rc = cli_usage_error(cmd, "unexpected argument '%s'", a), -1;
            r->id_text = a;
            continue;
        }
        if (i + 1 >= argc) return *rc = cli_usage_error(cmd, "%s needs a value", a), -1;
        const char *v = argv[++i];
        if (!strcmp(a, "--archive")) r->archive_path = v;
        else if (!strcmp(a, "--task")) r->task_name = v;
        else if (!strcmp(a, "--seeds")) {
            r->nseeds = dc_parse_int_list(v, r->seeds, DC_MAX_SEEDS, e, sizeof e);
            if (r->nseeds <= 0)
                return *rc = cli_usage_error(cmd, "--seeds: %s", r->nseeds ? e : "no seeds given"), -1;
        } else if (!strcmp(a, "--steps") || !strcmp(a, "--beta") || !strcmp(a, "--set")) {
            if (r->nopts >= DC_MAX_TASK_OPTIONS) return *rc = cli_usage_error(cmd, "too many task options"), -1;
            int k = r->nopts;
            if (!strcmp(a, "--set")) {
                const char *eq = strchr(v, '=');
                if (!eq || eq == v)
                    return *rc = cli_usage_error(cmd, "--set takes KEY=VALUE (got '%s')", v), -1;
                snprintf(r->opt_store[k], sizeof r->opt_store[0], "%.*s", (int)(eq - v), v);
                r->opt_vals[k] = eq + 1;
            } else {
                snprintf(r->opt_store[k], sizeof r->opt_store[0], "%s", a + 2);
                r->opt_vals[k] = v;
            }
            r->opt_keys[k] = r->opt_store[k];
            r->nopts++;
        } else {
            return *rc = cli_usage_error(cmd, "unknown option '%s'", a), -1;
        }
    }
    if (!r->id_text)
        return *rc = cli_usage_error(cmd, "which candidate? give its ID ('discover ls' lists them)"), -1;
    if (dc_parse_long(r->id_text, 1, 0x7fffffffL, &r->id) != 0)
        return *rc = cli_usage_error(cmd, "'%s' is not a candidate ID (a positive whole number)", r->id_text), -1;
    return 0;
}

/* The candidate and its campaign, read through a read-only connection that is closed again
 * (the records own their text, and no read transaction stays open during preparation).
 * 0, or -1 after printing why (nothing to free then). */
static int load_candidate(const char *cmd, const replay_args *r, arc_candidate *c, arc_campaign *camp)
{
    char e[1024];
    archive *a = NULL;
    if (archive_open(r->archive_path, ARC_READONLY, &a, e, sizeof e) != 0) return cli_error(cmd, "%s", e), -1;
    int got = archive_candidate_get(a, r->id, c, e, sizeof e);
    if (got != 0) {
        if (got > 0) cli_error(cmd, "no candidate %ld in %s; 'discover ls' lists them", r->id, r->archive_path);
        else cli_error(cmd, "%s", e);
        archive_close(a);
        return -1;
    }
    got = archive_campaign_by_id(a, c->campaign_id, camp, e, sizeof e);
    archive_close(a);
    if (got != 0) {
        if (got > 0)
            cli_error(cmd, "candidate %ld names campaign %lld, which is not in %s", r->id,
                      (long long)c->campaign_id, r->archive_path);
        else
            cli_error(cmd, "%s", e);
        arc_candidate_free(c);
        return -1;
    }
    return 0;
}

/* Trains and scores the candidate on each seed and archives one evaluation per seed; stops at
 * the first failing seed (a failed worker is dead). The per-seed results into all. */
static int evaluate_seeds(const char *cmd, const replay_args *r, const dc_task_ops *ops, dc_task *task,
                          sbx_worker *w, archive *a, const char *tname, cJSON *all)
{
    char e[1024];
    int rc = EXIT_OK;
    cJSON *tconf = ops->config_json(task);
    char *params = cJSON_PrintUnformatted(tconf);
    cJSON_Delete(tconf);
    for (int s = 0; s < r->nseeds; s++) {
        dc_task_result res;
        dc_task_result_init(&res);
        dc_train_and_score(ops, task, w, &r->seeds[s], 1, NULL, &res);
        arc_evaluation ev;
        memset(&ev, 0, sizeof ev);
        ev.candidate_id = r->id;
        ev.task = (char *)tname;
        ev.seed = r->seeds[s];
        ev.params_json = params ? params : "{}";
        ev.status = (char *)dc_status_name(res.status);
        ev.message = res.message;
        ev.fitness = res.fitness;
        ev.test_metric = res.test_metric;
        char *m = cJSON_PrintUnformatted(res.metrics);
        ev.metrics_json = m ? m : "{}";
        ev.seconds = res.seconds;
        ev.curves = res.curves;
        int inserted = archive_evaluation_insert(a, &ev, e, sizeof e);
        free(ev.created_at); /* set by the archive; the other fields are borrowed */
        if (inserted != 0) {
            cli_error(cmd, "%s", e);
            cJSON_free(m);
            dc_task_result_free(&res);
            rc = EXIT_USAGE;
            break;
        }
        fprintf(stderr, "seed %d: %s fitness %.4f test %.4f (%.1f s)%s", r->seeds[s],
                dc_status_name(res.status), res.fitness, res.test_metric, res.seconds,
                res.message[0] ? " " : "");
        dc_safe_fputs(res.message, DC_SAFE_LINE, stderr); // the candidate's failure, escaped
        fputc('\n', stderr);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "evaluation_id", (double)ev.id);
        cJSON_AddNumberToObject(o, "seed", r->seeds[s]);
        cJSON_AddStringToObject(o, "status", dc_status_name(res.status));
        cJSON_AddNumberToObject(o, "fitness", res.fitness);
        cJSON_AddNumberToObject(o, "test_metric", res.test_metric);
        cJSON_AddItemToObject(o, "metrics", cJSON_Duplicate(res.metrics, 1));
        cJSON_AddItemToArray(all, o);
        cJSON_free(m);
        dc_status rs = res.status;
        dc_task_result_free(&res);
        if (rs != DC_OK) {
            rc = EXIT_REJECTED;
            break;
        }
    }
    cJSON_free(params);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    const char *cmd = "replay";
    replay_args r;
    int rc = EXIT_USAGE;
    if (parse_args(cmd, argc, argv, &r, &rc) != 0) return rc;

    /* Everything that can be checked is checked through a read-only connection first (the
     * file is an archive of this schema, the candidate and its campaign exist, the task and
     * flags are valid), so a replay that fails on them leaves the file byte for byte as it
     * was: a read-write open may switch a non-WAL archive to WAL or upgrade an older
     * schema. An archive of an older schema is refused here rather than upgraded (the
     * read-only open cannot read it, and upgrading it to find that the ID is missing would
     * modify it); `discover run` on it upgrades it. */
    arc_candidate c;
    arc_campaign camp;
    if (load_candidate(cmd, &r, &c, &camp) != 0) return EXIT_USAGE;
    char e[1024];
    archive *a = NULL;
    const char *tname = r.task_name ? r.task_name : camp.task;
    const dc_task_ops *ops = dc_task_find(tname);
    if (!ops) {
        cli_usage_error(cmd, "unknown task '%s' (tasks: %s)", tname, dc_task_names());
        goto out_camp;
    }
    const dc_task_ops *orig_ops = dc_task_find(camp.task);
    if (orig_ops && orig_ops->kind != ops->kind) {
        cli_usage_error(cmd, "candidate %ld is a %s objective; task %s needs the other interface",
                        r.id, camp.task, tname);
        goto out_camp;
    }
    dc_task *task = ops->create();
    sbx_worker *w = NULL;
    if (apply_campaign_options(ops, task, camp.config_json, !strcmp(tname, camp.task), e, sizeof e) != 0) {
        cli_error(cmd, "%s", e);
        goto out_task;
    }
    for (int i = 0; i < r.nopts; i++)
        if (ops->set_option(task, r.opt_keys[i], r.opt_vals[i], e, sizeof e) != 0) {
            cli_usage_error(cmd, "%s", e);
            goto out_task;
        }
    if (ops->prepare(task, NULL, e, sizeof e) != 0) {
        cli_error(cmd, "%s", e);
        goto out_task;
    }
    char fp[17];
    int sep;
    dc_status st = dc_screen(ops, c.code, strlen(c.code), NULL, &w, fp, &sep, e, sizeof e);
    if (st != DC_OK) {
        fprintf(stderr, "discover replay: candidate %ld is rejected by the sandbox: %s: ", r.id,
                dc_status_name(st));
        dc_safe_fputs(e, DC_SAFE_LINE, stderr);
        fputc('\n', stderr);
        rc = EXIT_REJECTED;
        goto out_task;
    }
    /* Only now, with nothing left to refuse, the read-write open: it reports a read-only
     * archive before any training, and is the first thing that may write. */
    if (archive_open(r.archive_path, 0, &a, e, sizeof e) != 0) {
        cli_error(cmd, "%s", e);
        goto out_task;
    }
    cJSON *all = cJSON_CreateArray();
    rc = evaluate_seeds(cmd, &r, ops, task, w, a, tname, all);
    if (r.json) {
        char *t = cJSON_Print(all);
        char *safe = t ? dc_json_safe(t) : NULL; // valid UTF-8 whatever the messages hold
        if (safe) printf("%s\n", safe);
        free(safe);
        cJSON_free(t);
    }
    cJSON_Delete(all);
out_task:
    sbx_close(w);
    ops->destroy(task);
out_camp:
    arc_campaign_free(&camp);
    arc_candidate_free(&c);
    archive_close(a);
    return rc;
}
