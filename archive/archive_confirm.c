/* archive_confirm.c — what the confirmations of a campaign say: per candidate, the mean
 * validation fitness (and test metric) over its evaluations with purpose 'confirm' that
 * trained, next to the search's own fitness. The campaign's winner is the first row. */
#include "archive_internal.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

void arc_confirmed_free(arc_confirmed *c)
{
    if (!c) return;
    free(c->name);
    memset(c, 0, sizeof *c);
}

int archive_confirmed_list(archive *a, int64_t campaign_id, arc_confirmed **out, int *n,
                           char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    /* AVG over the trained ones only: a confirmation that failed has no fitness to average
     * and is counted apart, so the reader sees it. */
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "SELECT c.id, c.name, c.fitness, c.test_metric, "
                    "AVG(CASE WHEN e.status = 'ok' THEN e.fitness END), "
                    "AVG(CASE WHEN e.status = 'ok' THEN e.test_metric END), "
                    "SUM(e.status = 'ok'), SUM(e.status <> 'ok') "
                    "FROM candidates c JOIN evaluations e ON e.candidate_id = c.id "
                    "WHERE c.campaign_id = ?1 AND e.purpose = 'confirm' GROUP BY c.id "
                    "ORDER BY SUM(e.status = 'ok') = 0, "
                    "AVG(CASE WHEN e.status = 'ok' THEN e.fitness END) DESC, c.id",
                    &st, err, errcap))
        return -1;
    int rc = sqlite3_bind_int64(st, 1, campaign_id), cap = 0;
    if (rc == SQLITE_OK)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 8;
                *out = dc_realloc(*out, (size_t)cap * sizeof **out);
            }
            arc_confirmed *c = &(*out)[(*n)++];
            memset(c, 0, sizeof *c);
            c->candidate_id = sqlite3_column_int64(st, 0);
            c->name = arc_col_text(st, 1);
            c->search_fitness = arc_col_real(st, 2);
            c->search_test = arc_col_real(st, 3);
            c->fitness = arc_col_real(st, 4);
            c->test_metric = arc_col_real(st, 5);
            c->n = sqlite3_column_int(st, 6);
            c->nfailed = sqlite3_column_int(st, 7);
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        arc_fail(a, rc, "cannot list the confirmations", err, errcap);
        for (int i = 0; i < *n; i++)
            arc_confirmed_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}
