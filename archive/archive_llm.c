/* archive_llm.c — the exact LLM exchanges (request body, raw response, tokens, cost) and
 * the totals budgets are checked against.
 *
 * API keys travel in HTTP headers and never in the body, so a request body normally holds
 * none; as a second line of defence, a body that is JSON has the values of key-like fields
 * ("api_key", "authorization", ...) replaced by "[redacted]" before it is stored. */
#include "archive_internal.h"

#include "common/util.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void arc_llm_call_free(arc_llm_call *c)
{
    if (!c) return;
    free(c->request_json);
    free(c->response_raw);
    free(c->error);
    free(c->created_at);
    free(c->model);
    memset(c, 0, sizeof *c);
}

static int is_secret_key(const char *k)
{
    static const char *const names[] = {"api_key",       "apikey",       "api-key",   "x-api-key",
                                        "authorization", "access_token", "secret_key"};
    for (size_t i = 0; k && i < sizeof names / sizeof *names; i++)
        if (strcasecmp(k, names[i]) == 0) return 1;
    return 0;
}

static int redact(cJSON *node)
{
    int changed = 0;
    for (cJSON *it = node ? node->child : NULL; it; it = it->next) {
        if (is_secret_key(it->string) && cJSON_IsString(it) &&
            strcmp(it->valuestring, "[redacted]") != 0) {
            cJSON_SetValuestring(it, "[redacted]");
            changed = 1;
        } else {
            changed |= redact(it);
        }
    }
    return changed;
}

/* The body to store: the original text, or a redacted re-serialisation (new string). */
static char *request_to_store(const char *body)
{
    cJSON *j = cJSON_Parse(body);
    char *out = NULL;
    if (j && redact(j)) out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (out) {
        char *copy = dc_strdup(out);
        cJSON_free(out);
        return copy;
    }
    return dc_strdup(body);
}

int archive_llm_call_insert(archive *a, arc_llm_call *c, char *err, size_t errcap)
{
    if (arc_require_writable(a, "cannot store an LLM call", err, errcap)) return -1;
    /* microseconds: with latency_s it places the call on the report's evaluator timeline */
    char now[40];
    dc_utc_iso_at(dc_utc_epoch(), now, sizeof now);
    char *body = request_to_store(c->request_json ? c->request_json : "");
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "INSERT INTO llm_calls (campaign_id, generation, request_json, response_raw, "
                    "http_status, tokens_in, tokens_out, latency_s, cost, error, created_at, "
                    "response_bytes, island, model) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                    "?11, ?12, ?13, ?14)",
                    &st, err, errcap)) {
        free(body);
        return -1;
    }
    int b = sqlite3_bind_int64(st, 1, c->campaign_id);
    b |= sqlite3_bind_int(st, 2, c->generation);
    b |= arc_bind_text(st, 3, body);
    b |= arc_bind_text(st, 4, c->response_raw);
    b |= sqlite3_bind_int(st, 5, c->http_status);
    b |= sqlite3_bind_int(st, 6, c->tokens_in);
    b |= sqlite3_bind_int(st, 7, c->tokens_out);
    b |= sqlite3_bind_double(st, 8, isfinite(c->latency_s) ? c->latency_s : 0.0);
    b |= sqlite3_bind_double(st, 9, isfinite(c->cost) ? c->cost : 0.0);
    b |= arc_bind_text(st, 10, c->error);
    b |= arc_bind_text(st, 11, now);
    int64_t stored = (int64_t)strlen(c->response_raw ? c->response_raw : "");
    b |= sqlite3_bind_int64(st, 12, c->response_bytes > stored ? c->response_bytes : stored);
    b |= sqlite3_bind_int(st, 13, c->island);
    b |= arc_bind_text(st, 14, c->model ? c->model : "");
    free(body);
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
            dc_fmt(err, errcap, "cannot store an LLM call: no campaign %lld in archive %s",
                   (long long)c->campaign_id, a->path);
        else
            arc_fail(a, rc, "cannot store an LLM call", err, errcap);
        return -1;
    }
    c->id = sqlite3_last_insert_rowid(a->db);
    free(c->created_at);
    c->created_at = dc_strdup(now);
    if (c->response_bytes < stored) c->response_bytes = stored;
    return 0;
}

#define LLM_COLUMNS                                                                                \
    "id, campaign_id, generation, request_json, response_raw, http_status, tokens_in, "            \
    "tokens_out, latency_s, cost, error, created_at, response_bytes, island, model"

static void read_row(sqlite3_stmt *st, arc_llm_call *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    c->campaign_id = sqlite3_column_int64(st, 1);
    c->generation = sqlite3_column_int(st, 2);
    c->request_json = arc_col_text(st, 3);
    c->response_raw = arc_col_text(st, 4);
    c->http_status = sqlite3_column_int(st, 5);
    c->tokens_in = sqlite3_column_int(st, 6);
    c->tokens_out = sqlite3_column_int(st, 7);
    c->latency_s = sqlite3_column_double(st, 8);
    c->cost = sqlite3_column_double(st, 9);
    c->error = arc_col_text(st, 10);
    c->created_at = arc_col_text(st, 11);
    c->response_bytes = sqlite3_column_int64(st, 12);
    c->island = sqlite3_column_int(st, 13);
    c->model = arc_col_text(st, 14);
}

int archive_llm_call_get(archive *a, int64_t id, arc_llm_call *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (arc_prepare(a, "SELECT " LLM_COLUMNS " FROM llm_calls WHERE id = ?1", &st, err, errcap))
        return -1;
    int b = sqlite3_bind_int64(st, 1, id);
    int rc = b ? b : sqlite3_step(st);
    if (rc == SQLITE_ROW) read_row(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return 1;
    return arc_fail(a, rc, "cannot read an LLM call", err, errcap);
}

int archive_llm_call_list(archive *a, int64_t campaign_id, arc_llm_call **out, int *n, char *err,
                          size_t errcap)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (arc_prepare(a, "SELECT " LLM_COLUMNS " FROM llm_calls WHERE campaign_id = ?1 ORDER BY id",
                    &st, err, errcap))
        return -1;
    int rc = sqlite3_bind_int64(st, 1, campaign_id), cap = 0;
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                *out = dc_realloc(*out, (size_t)cap * sizeof **out);
            }
            read_row(st, &(*out)[(*n)++]);
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        for (int i = 0; i < *n; i++)
            arc_llm_call_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return arc_fail(a, rc, "cannot list LLM calls", err, errcap);
    }
    return 0;
}

int archive_llm_totals(archive *a, int64_t campaign_id, int *calls, long long *tokens, double *cost,
                       char *err, size_t errcap)
{
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "SELECT count(*), coalesce(sum(tokens_in + tokens_out), 0), "
                    "coalesce(sum(cost), 0.0) FROM llm_calls WHERE campaign_id = ?1",
                    &st, err, errcap))
        return -1;
    int b = sqlite3_bind_int64(st, 1, campaign_id);
    int rc = b ? b : sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (calls) *calls = sqlite3_column_int(st, 0);
        if (tokens) *tokens = sqlite3_column_int64(st, 1);
        if (cost) *cost = sqlite3_column_double(st, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : arc_fail(a, rc, "cannot total the LLM calls", err, errcap);
}

void arc_model_stats_free(arc_model_stat *s, int n)
{
    for (int i = 0; s && i < n; i++) free(s[i].model);
    free(s);
}

int archive_llm_model_stats(archive *a, int64_t campaign_id, arc_model_stat **out, int *n,
                            char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    /* Calls archived before llm_calls.model existed read '' and were answered by the
     * campaign's model. A call has at most one candidate (candidates.llm_call_id). */
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "SELECT CASE WHEN l.model = '' THEN c.model ELSE l.model END AS m, count(*), "
                    "coalesce(sum(l.tokens_in), 0), coalesce(sum(l.tokens_out), 0), "
                    "coalesce(sum(l.cost), 0.0), coalesce(sum(k.status = 'ok'), 0), "
                    "max(k.fitness) FROM llm_calls l JOIN campaigns c ON c.id = l.campaign_id "
                    "LEFT JOIN candidates k ON k.llm_call_id = l.id WHERE l.campaign_id = ?1 "
                    "GROUP BY m ORDER BY min(l.id)",
                    &st, err, errcap))
        return -1;
    int rc = sqlite3_bind_int64(st, 1, campaign_id), cap = 0;
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 4;
                *out = dc_realloc(*out, (size_t)cap * sizeof **out);
            }
            arc_model_stat *m = &(*out)[(*n)++];
            m->model = arc_col_text(st, 0);
            m->calls = sqlite3_column_int(st, 1);
            m->tokens_in = sqlite3_column_int64(st, 2);
            m->tokens_out = sqlite3_column_int64(st, 3);
            m->cost = sqlite3_column_double(st, 4);
            m->ok = sqlite3_column_int(st, 5);
            m->has_best = sqlite3_column_type(st, 6) != SQLITE_NULL;
            m->best_fitness = m->has_best ? sqlite3_column_double(st, 6) : 0;
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        arc_model_stats_free(*out, *n);
        *out = NULL;
        *n = 0;
        return arc_fail(a, rc, "cannot total the LLM calls per model", err, errcap);
    }
    return 0;
}

int archive_llm_outcomes(archive *a, int64_t campaign_id, arc_llm_outcome **out, int *n,
                         char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "SELECT id, model, cost, error != '' FROM llm_calls WHERE campaign_id = ?1 "
                    "ORDER BY id",
                    &st, err, errcap))
        return -1;
    int rc = sqlite3_bind_int64(st, 1, campaign_id), cap = 0;
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                *out = dc_realloc(*out, (size_t)cap * sizeof **out);
            }
            arc_llm_outcome *o = &(*out)[(*n)++];
            o->id = sqlite3_column_int64(st, 0);
            const unsigned char *m = sqlite3_column_text(st, 1);
            dc_fmt(o->model, sizeof o->model, "%s", m ? (const char *)m : "");
            o->cost = sqlite3_column_double(st, 2);
            o->failed = sqlite3_column_int(st, 3);
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return arc_fail(a, rc, "cannot list the outcomes of LLM calls", err, errcap);
    }
    return 0;
}
