/* archive_evaluation.c — evaluations: a candidate trained and scored again (replays,
 * held-out sweeps over seeds and betas), each with its curves, in one transaction. */
#include "archive_internal.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void arc_evaluation_free(arc_evaluation *e)
{
    if (!e) return;
    free(e->task);
    free(e->params_json);
    free(e->status);
    free(e->message);
    free(e->metrics_json);
    free(e->created_at);
    free(e->purpose);
    dc_curves_free(&e->curves);
    memset(e, 0, sizeof *e);
}

int archive_evaluation_insert(archive *a, arc_evaluation *e, char *err, size_t errcap)
{
    if (arc_require_writable(a, "cannot store an evaluation", err, errcap)) return -1;
    if (!arc_valid_candidate_status(e->status) || !e->task || !*e->task) {
        dc_fmt(err, errcap,
               "cannot store an evaluation in archive %s: it needs a task and a status name "
               "(got status '%s')",
               a->path, e->status ? e->status : "(null)");
        return -1;
    }
    char now[32];
    dc_utc_iso(now, sizeof now);
    if (arc_begin(a, err, errcap)) return -1;
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "INSERT INTO evaluations (candidate_id, task, seed, params_json, status, "
                    "message, fitness, test_metric, metrics_json, seconds, created_at, purpose) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    &st, err, errcap)) {
        arc_rollback(a);
        return -1;
    }
    int b = sqlite3_bind_int64(st, 1, e->candidate_id);
    b |= arc_bind_text(st, 2, e->task);
    b |= sqlite3_bind_int64(st, 3, e->seed);
    b |= arc_bind_text(st, 4, e->params_json && *e->params_json ? e->params_json : "{}");
    b |= arc_bind_text(st, 5, e->status);
    b |= arc_bind_text(st, 6, e->message);
    b |= arc_bind_real(st, 7, e->fitness);
    b |= arc_bind_real(st, 8, e->test_metric);
    b |= arc_bind_text(st, 9, e->metrics_json && *e->metrics_json ? e->metrics_json : "{}");
    b |= sqlite3_bind_double(st, 10, isfinite(e->seconds) ? e->seconds : 0.0);
    b |= arc_bind_text(st, 11, now);
    b |= arc_bind_text(st, 12, e->purpose ? e->purpose : "");
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
            dc_fmt(err, errcap, "cannot store an evaluation: no candidate %lld in archive %s",
                   (long long)e->candidate_id, a->path);
        else
            arc_fail(a, rc, "cannot store an evaluation", err, errcap);
        arc_rollback(a);
        return -1;
    }
    int64_t id = sqlite3_last_insert_rowid(a->db);
    if (arc_curves_replace(a, "evaluation", id, &e->curves, err, errcap) ||
        arc_commit(a, err, errcap)) {
        arc_rollback(a);
        return -1;
    }
    e->id = id;
    free(e->created_at);
    e->created_at = dc_strdup(now);
    return 0;
}

int archive_evaluation_list(archive *a, int64_t candidate_id, arc_evaluation **out, int *n,
                            char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "SELECT id, candidate_id, task, seed, params_json, status, message, fitness, "
                    "test_metric, metrics_json, seconds, created_at, purpose FROM evaluations "
                    "WHERE candidate_id = ?1 ORDER BY id",
                    &st, err, errcap))
        return -1;
    int rc = sqlite3_bind_int64(st, 1, candidate_id), cap = 0;
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 8;
                *out = dc_realloc(*out, (size_t)cap * sizeof **out);
            }
            arc_evaluation *e = &(*out)[(*n)++];
            memset(e, 0, sizeof *e);
            e->id = sqlite3_column_int64(st, 0);
            e->candidate_id = sqlite3_column_int64(st, 1);
            e->task = arc_col_text(st, 2);
            e->seed = sqlite3_column_int64(st, 3);
            e->params_json = arc_col_text(st, 4);
            e->status = arc_col_text(st, 5);
            e->message = arc_col_text(st, 6);
            e->fitness = arc_col_real(st, 7);
            e->test_metric = arc_col_real(st, 8);
            e->metrics_json = arc_col_text(st, 9);
            e->seconds = sqlite3_column_double(st, 10);
            e->created_at = arc_col_text(st, 11);
            e->purpose = arc_col_text(st, 12);
        }
    sqlite3_finalize(st);
    int curves_failed = 0;
    if (rc != SQLITE_DONE) arc_fail(a, rc, "cannot list evaluations", err, errcap);
    for (int i = 0; rc == SQLITE_DONE && !curves_failed && i < *n; i++)
        curves_failed =
            arc_curves_load(a, "evaluation", (*out)[i].id, &(*out)[i].curves, err, errcap) != 0;
    if (rc != SQLITE_DONE || curves_failed) {
        for (int i = 0; i < *n; i++)
            arc_evaluation_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}
