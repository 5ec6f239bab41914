/* archive_campaign.c — campaign records: create, look up, status, list, summary. */
#include "archive_internal.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static const char *const campaign_statuses[] = {"running", "finished", "interrupted", "failed",
                                                "budget"};

static int valid_campaign_status(const char *s)
{
    for (size_t i = 0; i < sizeof campaign_statuses / sizeof *campaign_statuses; i++)
        if (s && strcmp(s, campaign_statuses[i]) == 0) return 1;
    return 0;
}

void arc_campaign_free(arc_campaign *c)
{
    if (!c) return;
    free(c->name);
    free(c->task);
    free(c->config_json);
    free(c->proposer);
    free(c->model);
    free(c->status);
    free(c->created_at);
    free(c->updated_at);
    memset(c, 0, sizeof *c);
}

#define CAMPAIGN_COLUMNS                                                                           \
    "id, name, task, config_json, proposer, model, seed, status, created_at, updated_at"

static void read_row(sqlite3_stmt *st, arc_campaign *c)
{
    c->id = sqlite3_column_int64(st, 0);
    c->name = arc_col_text(st, 1);
    c->task = arc_col_text(st, 2);
    c->config_json = arc_col_text(st, 3);
    c->proposer = arc_col_text(st, 4);
    c->model = arc_col_text(st, 5);
    c->seed = sqlite3_column_int64(st, 6);
    c->status = arc_col_text(st, 7);
    c->created_at = arc_col_text(st, 8);
    c->updated_at = arc_col_text(st, 9);
}

int archive_campaign_create(archive *a, arc_campaign *c, char *err, size_t errcap)
{
    if (arc_require_writable(a, "cannot create a campaign", err, errcap)) return -1;
    if (!c->name || !*c->name || !c->task || !*c->task || !c->proposer) {
        dc_fmt(err, errcap,
               "cannot create a campaign in archive %s: name, task and proposer "
               "are required",
               a->path);
        return -1;
    }
    const char *status = c->status && *c->status ? c->status : "running";
    if (!valid_campaign_status(status)) {
        dc_fmt(err, errcap,
               "cannot create campaign '%s': unknown status '%s' (use running, "
               "finished, interrupted, failed or budget)",
               c->name, status);
        return -1;
    }
    arc_campaign existing = {0};
    int found = archive_campaign_by_name(a, c->name, &existing, err, errcap);
    arc_campaign_free(&existing);
    if (found < 0) return -1;
    if (found == 0) {
        dc_fmt(err, errcap,
               "a campaign named '%s' already exists in archive %s; choose another name "
               "(--name) or resume it",
               c->name, a->path);
        return -1;
    }
    char now[32];
    dc_utc_iso(now, sizeof now);
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "INSERT INTO campaigns (name, task, config_json, proposer, model, seed, "
                    "status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    &st, err, errcap))
        return -1;
    int b = arc_bind_text(st, 1, c->name);
    b |= arc_bind_text(st, 2, c->task);
    b |= arc_bind_text(st, 3, c->config_json && *c->config_json ? c->config_json : "{}");
    b |= arc_bind_text(st, 4, c->proposer);
    b |= arc_bind_text(st, 5, c->model);
    b |= sqlite3_bind_int64(st, 6, c->seed);
    b |= arc_bind_text(st, 7, status);
    b |= arc_bind_text(st, 8, now);
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return arc_fail(a, rc, "cannot create a campaign", err, errcap);
    c->id = sqlite3_last_insert_rowid(a->db);
    if (!c->status || strcmp(c->status, status) != 0) {
        free(c->status);
        c->status = dc_strdup(status);
    }
    free(c->created_at);
    free(c->updated_at);
    c->created_at = dc_strdup(now);
    c->updated_at = dc_strdup(now);
    return 0;
}

static int get_one(archive *a, const char *sql, const char *name, int64_t id, arc_campaign *out,
                   char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (arc_prepare(a, sql, &st, err, errcap)) return -1;
    int b = name ? arc_bind_text(st, 1, name) : sqlite3_bind_int64(st, 1, id);
    int rc = b ? b : sqlite3_step(st);
    if (rc == SQLITE_ROW) read_row(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return 1;
    return arc_fail(a, rc, "cannot read a campaign", err, errcap);
}

int archive_campaign_by_name(archive *a, const char *name, arc_campaign *out, char *err,
                             size_t errcap)
{
    return get_one(a, "SELECT " CAMPAIGN_COLUMNS " FROM campaigns WHERE name = ?1",
                   name ? name : "", 0, out, err, errcap);
}

int archive_campaign_by_id(archive *a, int64_t id, arc_campaign *out, char *err, size_t errcap)
{
    return get_one(a, "SELECT " CAMPAIGN_COLUMNS " FROM campaigns WHERE id = ?1", NULL, id, out,
                   err, errcap);
}

int archive_campaign_set_status(archive *a, int64_t id, const char *status, char *err,
                                size_t errcap)
{
    if (arc_require_writable(a, "cannot set a campaign's status", err, errcap)) return -1;
    if (!valid_campaign_status(status)) {
        dc_fmt(err, errcap,
               "unknown campaign status '%s' (use running, finished, interrupted, "
               "failed or budget)",
               status ? status : "(null)");
        return -1;
    }
    char now[32];
    dc_utc_iso(now, sizeof now);
    sqlite3_stmt *st;
    if (arc_prepare(a, "UPDATE campaigns SET status = ?1, updated_at = ?2 WHERE id = ?3", &st, err,
                    errcap))
        return -1;
    int b = arc_bind_text(st, 1, status);
    b |= arc_bind_text(st, 2, now);
    b |= sqlite3_bind_int64(st, 3, id);
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return arc_fail(a, rc, "cannot set a campaign's status", err, errcap);
    if (sqlite3_changes(a->db) != 1) {
        dc_fmt(err, errcap, "no campaign %lld in archive %s", (long long)id, a->path);
        return -1;
    }
    return 0;
}

int archive_campaign_list(archive *a, arc_campaign **out, int *n, char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (arc_prepare(a, "SELECT " CAMPAIGN_COLUMNS " FROM campaigns ORDER BY id", &st, err, errcap))
        return -1;
    int rc, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *out = dc_realloc(*out, (size_t)cap * sizeof **out);
        }
        memset(&(*out)[*n], 0, sizeof **out);
        read_row(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        for (int i = 0; i < *n; i++)
            arc_campaign_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return arc_fail(a, rc, "cannot list campaigns", err, errcap);
    }
    return 0;
}

int archive_campaign_summary(archive *a, int64_t campaign_id, arc_campaign_stats *s, char *err,
                             size_t errcap)
{
    memset(s, 0, sizeof *s);
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "SELECT count(*), count(fitness), max(fitness), "
                    "  sum(status = 'pending'), max(generation) "
                    "FROM candidates WHERE campaign_id = ?1",
                    &st, err, errcap))
        return -1;
    int b = sqlite3_bind_int64(st, 1, campaign_id);
    int rc = b ? b : sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        s->candidates = sqlite3_column_int(st, 0);
        s->scored = sqlite3_column_int(st, 1);
        s->best_fitness = arc_col_real(st, 2);
        s->pending = sqlite3_column_int(st, 3);
        s->max_generation =
            sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 4);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : arc_fail(a, rc, "cannot summarise a campaign", err, errcap);
}
