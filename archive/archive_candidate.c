/* archive_candidate.c — candidate records: insert (with curves, one transaction), finish a
 * pending one, get, list, and the de-duplication look-ups. */
#include "archive_internal.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void arc_candidate_free(arc_candidate *c)
{
    if (!c) return;
    free(c->parents_json);
    free(c->name);
    free(c->thought);
    free(c->code);
    free(c->code_hash);
    free(c->fingerprint);
    free(c->status);
    free(c->message);
    free(c->metrics_json);
    free(c->created_at);
    free(c->eval_started_at);
    dc_curves_free(&c->curves);
    memset(c, 0, sizeof *c);
}

#define CANDIDATE_COLUMNS                                                                          \
    "id, campaign_id, generation, parents_json, name, thought, code, code_hash, fingerprint, "     \
    "status, message, duplicate_of, fitness, test_metric, metrics_json, seconds, llm_call_id, "    \
    "created_at, island, evaluator, eval_started_at"

static void read_row(sqlite3_stmt *st, arc_candidate *c, int with_code)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    c->campaign_id = sqlite3_column_int64(st, 1);
    c->generation = sqlite3_column_int(st, 2);
    c->parents_json = arc_col_text(st, 3);
    c->name = arc_col_text(st, 4);
    if (with_code) {
        c->thought = arc_col_text(st, 5);
        c->code = arc_col_text(st, 6);
    }
    c->code_hash = arc_col_text(st, 7);
    c->fingerprint = arc_col_text(st, 8);
    c->status = arc_col_text(st, 9);
    c->message = arc_col_text(st, 10);
    c->duplicate_of = sqlite3_column_int64(st, 11); /* NULL reads as 0: none */
    c->has_fitness = sqlite3_column_type(st, 12) != SQLITE_NULL;
    c->fitness = arc_col_real(st, 12);
    c->test_metric = arc_col_real(st, 13);
    c->metrics_json = arc_col_text(st, 14);
    c->seconds = sqlite3_column_double(st, 15);
    c->llm_call_id = sqlite3_column_int64(st, 16);
    c->created_at = arc_col_text(st, 17);
    c->island = sqlite3_column_int(st, 18);
    c->evaluator = sqlite3_column_int(st, 19);
    c->eval_started_at = arc_col_text(st, 20);
}

static int check_status(archive *a, const char *status, char *err, size_t errcap)
{
    if (arc_valid_candidate_status(status)) return 0;
    dc_fmt(err, errcap,
           "cannot store a candidate in archive %s: unknown status '%s' (use pending or a "
           "status name such as ok, compile_error, duplicate)",
           a->path, status ? status : "(null)");
    return -1;
}

/* Binds the result fields shared by insert and finish, from index `at` on:
 * status, message, duplicate_of, fitness, test_metric, metrics_json, seconds, fingerprint. */
static int bind_results(sqlite3_stmt *st, int at, const arc_candidate *c)
{
    int b = arc_bind_text(st, at, c->status);
    b |= arc_bind_text(st, at + 1, c->message);
    b |= arc_bind_ref(st, at + 2, c->duplicate_of);
    b |= c->has_fitness ? arc_bind_real(st, at + 3, c->fitness) : sqlite3_bind_null(st, at + 3);
    b |= arc_bind_real(st, at + 4, c->test_metric);
    b |= arc_bind_text(st, at + 5, c->metrics_json && *c->metrics_json ? c->metrics_json : "{}");
    b |= sqlite3_bind_double(st, at + 6, isfinite(c->seconds) ? c->seconds : 0.0);
    b |= arc_bind_text(st, at + 7, c->fingerprint);
    return b;
}

int archive_candidate_insert(archive *a, arc_candidate *c, char *err, size_t errcap)
{
    if (arc_require_writable(a, "cannot store a candidate", err, errcap)) return -1;
    if (check_status(a, c->status, err, errcap)) return -1;
    if (!c->code) {
        dc_fmt(err, errcap, "cannot store a candidate in archive %s: it has no code", a->path);
        return -1;
    }
    char hash[17] = "";
    if (!c->code_hash || !*c->code_hash) archive_code_hash(c->code, hash, sizeof hash);
    char now[32];
    dc_utc_iso(now, sizeof now);

    if (arc_begin(a, err, errcap)) return -1;
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "INSERT INTO candidates (status, message, duplicate_of, fitness, test_metric, "
                    "metrics_json, seconds, fingerprint, campaign_id, generation, parents_json, "
                    "name, thought, code, code_hash, llm_call_id, created_at, island) VALUES (?1, "
                    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                    &st, err, errcap)) {
        arc_rollback(a);
        return -1;
    }
    int b = bind_results(st, 1, c);
    b |= sqlite3_bind_int64(st, 9, c->campaign_id);
    b |= sqlite3_bind_int(st, 10, c->generation);
    b |= arc_bind_text(st, 11, c->parents_json && *c->parents_json ? c->parents_json : "[]");
    b |= arc_bind_text(st, 12, c->name);
    b |= arc_bind_text(st, 13, c->thought);
    b |= arc_bind_text(st, 14, c->code);
    b |= arc_bind_text(st, 15, c->code_hash && *c->code_hash ? c->code_hash : hash);
    b |= arc_bind_ref(st, 16, c->llm_call_id);
    b |= arc_bind_text(st, 17, now);
    b |= sqlite3_bind_int(st, 18, c->island);
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        arc_fail(a, rc, "cannot store a candidate", err, errcap);
        arc_rollback(a);
        return -1;
    }
    int64_t id = sqlite3_last_insert_rowid(a->db);
    if (arc_curves_replace(a, "candidate", id, &c->curves, err, errcap) ||
        arc_commit(a, err, errcap)) {
        arc_rollback(a);
        return -1;
    }
    c->id = id;
    if (!c->code_hash || !*c->code_hash) {
        free(c->code_hash);
        c->code_hash = dc_strdup(hash);
    }
    free(c->created_at);
    c->created_at = dc_strdup(now);
    return 0;
}

int archive_candidate_finish(archive *a, const arc_candidate *c, char *err, size_t errcap)
{
    if (arc_require_writable(a, "cannot update a candidate", err, errcap)) return -1;
    if (check_status(a, c->status, err, errcap)) return -1;
    if (arc_begin(a, err, errcap)) return -1;
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "UPDATE candidates SET status = ?1, message = ?2, duplicate_of = ?3, "
                    "fitness = ?4, test_metric = ?5, metrics_json = ?6, seconds = ?7, "
                    "fingerprint = ?8, "
                    "evaluator = CASE WHEN ?11 = '' THEN evaluator ELSE ?10 END, "
                    "eval_started_at = CASE WHEN ?11 = '' THEN eval_started_at ELSE ?11 END "
                    "WHERE id = ?9",
                    &st, err, errcap)) {
        arc_rollback(a);
        return -1;
    }
    int b = bind_results(st, 1, c);
    b |= sqlite3_bind_int64(st, 9, c->id);
    b |= sqlite3_bind_int(st, 10, c->evaluator);
    b |= arc_bind_text(st, 11, c->eval_started_at ? c->eval_started_at : "");
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        arc_fail(a, rc, "cannot update a candidate", err, errcap);
        arc_rollback(a);
        return -1;
    }
    if (sqlite3_changes(a->db) != 1) {
        arc_rollback(a);
        dc_fmt(err, errcap, "no candidate %lld in %s to update", (long long)c->id, a->path);
        return -1;
    }
    if (arc_curves_replace(a, "candidate", c->id, &c->curves, err, errcap) ||
        arc_commit(a, err, errcap)) {
        arc_rollback(a);
        return -1;
    }
    return 0;
}

int archive_candidate_get(archive *a, int64_t id, arc_candidate *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (arc_prepare(a, "SELECT " CANDIDATE_COLUMNS " FROM candidates WHERE id = ?1", &st, err,
                    errcap))
        return -1;
    int b = sqlite3_bind_int64(st, 1, id);
    int rc = b ? b : sqlite3_step(st);
    if (rc == SQLITE_ROW) read_row(st, out, 1);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) return 1;
    if (rc != SQLITE_ROW) return arc_fail(a, rc, "cannot read a candidate", err, errcap);
    if (arc_curves_load(a, "candidate", id, &out->curves, err, errcap)) {
        arc_candidate_free(out);
        return -1;
    }
    return 0;
}

int archive_candidate_list(archive *a, const arc_filter *f, arc_candidate **out, int *n, char *err,
                           size_t errcap)
{
    *out = NULL;
    *n = 0;
    /* Two fixed statements; the filter values are bound (0 / NULL mean "any"). */
    const char *sql = f && f->top_k > 0 ? "SELECT " CANDIDATE_COLUMNS
                                          " FROM candidates WHERE (?1 = 0 OR campaign_id = ?1) "
                                          "AND (?2 IS NULL OR status = ?2) AND fitness IS NOT NULL "
                                          "ORDER BY fitness DESC, id LIMIT ?3"
                                        : "SELECT " CANDIDATE_COLUMNS
                                          " FROM candidates WHERE (?1 = 0 OR campaign_id = ?1) "
                                          "AND (?2 IS NULL OR status = ?2) ORDER BY id";
    sqlite3_stmt *st;
    if (arc_prepare(a, sql, &st, err, errcap)) return -1;
    int b = sqlite3_bind_int64(st, 1, f ? f->campaign_id : 0);
    b |= f && f->status ? arc_bind_text(st, 2, f->status) : sqlite3_bind_null(st, 2);
    if (f && f->top_k > 0) b |= sqlite3_bind_int(st, 3, f->top_k);
    int rc = b, cap = 0;
    if (!b)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                *out = dc_realloc(*out, (size_t)cap * sizeof **out);
            }
            read_row(st, &(*out)[(*n)++], f ? f->with_code : 0);
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        for (int i = 0; i < *n; i++)
            arc_candidate_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return arc_fail(a, rc, "cannot list candidates", err, errcap);
    }
    return 0;
}

static int find_first(archive *a, const char *sql, int64_t campaign_id, const char *key,
                      int64_t *id, char *err, size_t errcap)
{
    sqlite3_stmt *st;
    if (arc_prepare(a, sql, &st, err, errcap)) return -1;
    int b = sqlite3_bind_int64(st, 1, campaign_id);
    b |= arc_bind_text(st, 2, key);
    int rc = b ? b : sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return 1;
    return arc_fail(a, rc, "cannot look up a duplicate", err, errcap);
}

int archive_find_by_hash(archive *a, int64_t campaign_id, const char *code_hash, int64_t *id,
                         char *err, size_t errcap)
{
    if (!code_hash || !*code_hash) return 1;
    return find_first(a,
                      "SELECT id FROM candidates WHERE campaign_id = ?1 AND code_hash = ?2 "
                      "AND status NOT IN ('pending', 'duplicate', 'interrupted', 'timeout', 'error') "
                      "ORDER BY id LIMIT 1",
                      campaign_id, code_hash, id, err, errcap);
}

int archive_find_by_fingerprint(archive *a, int64_t campaign_id, const char *fingerprint,
                                int64_t *id, char *err, size_t errcap)
{
    if (!fingerprint || !*fingerprint) return 1; /* "" = not computed: matches nothing */
    return find_first(a,
                      "SELECT id FROM candidates WHERE campaign_id = ?1 AND fingerprint = ?2 "
                      "AND status NOT IN ('pending', 'duplicate', 'interrupted', 'timeout', 'error') "
                      "ORDER BY id LIMIT 1",
                      campaign_id, fingerprint, id, err, errcap);
}

int archive_max_generation(archive *a, int64_t campaign_id, int *gen, char *err, size_t errcap)
{
    sqlite3_stmt *st;
    if (arc_prepare(a, "SELECT max(generation) FROM candidates WHERE campaign_id = ?1", &st, err,
                    errcap))
        return -1;
    int b = sqlite3_bind_int64(st, 1, campaign_id);
    int rc = b ? b : sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *gen = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : arc_fail(a, rc, "cannot read the last generation", err, errcap);
}
