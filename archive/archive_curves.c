/* archive_curves.c — metric trajectories of candidates and evaluations: one row per point,
 * (owner_kind, owner_id, metric, step, value), read back in insertion order. */
#include "archive_internal.h"

#include "common/util.h"

int arc_curves_replace(archive *a, const char *owner_kind, int64_t owner_id, const dc_curves *c,
                       char *err, size_t errcap)
{
    sqlite3_stmt *del;
    if (arc_prepare(a, "DELETE FROM curves WHERE owner_kind = ?1 AND owner_id = ?2", &del, err,
                    errcap))
        return -1;
    int b = arc_bind_text(del, 1, owner_kind);
    b |= sqlite3_bind_int64(del, 2, owner_id);
    int rc = b ? b : sqlite3_step(del);
    sqlite3_finalize(del);
    if (rc != SQLITE_DONE) return arc_fail(a, rc, "cannot replace curves", err, errcap);
    if (!c || c->len == 0) return 0;

    sqlite3_stmt *ins;
    if (arc_prepare(a,
                    "INSERT INTO curves (owner_kind, owner_id, metric, step, value) "
                    "VALUES (?1, ?2, ?3, ?4, ?5)",
                    &ins, err, errcap))
        return -1;
    b = arc_bind_text(ins, 1, owner_kind);
    b |= sqlite3_bind_int64(ins, 2, owner_id);
    rc = b ? b : SQLITE_DONE;
    for (int i = 0; i < c->len && rc == SQLITE_DONE; i++) {
        const dc_curve *cv = &c->items[i];
        if ((rc = arc_bind_text(ins, 3, cv->metric)) != SQLITE_OK) break;
        rc = SQLITE_DONE;
        for (int j = 0; j < cv->len && rc == SQLITE_DONE; j++) {
            b = sqlite3_bind_int(ins, 4, cv->step[j]);
            b |= arc_bind_real(ins, 5, cv->value[j]);
            rc = b ? b : sqlite3_step(ins);
            sqlite3_reset(ins);
        }
    }
    sqlite3_finalize(ins);
    if (rc != SQLITE_DONE) return arc_fail(a, rc, "cannot write curves", err, errcap);
    return 0;
}

int arc_curves_load(archive *a, const char *owner_kind, int64_t owner_id, dc_curves *out, char *err,
                    size_t errcap)
{
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "SELECT metric, step, value FROM curves "
                    "WHERE owner_kind = ?1 AND owner_id = ?2 ORDER BY rowid",
                    &st, err, errcap))
        return -1;
    int b = arc_bind_text(st, 1, owner_kind);
    b |= sqlite3_bind_int64(st, 2, owner_id);
    int rc = b;
    if (!b)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            dc_curves_add(out, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1),
                          arc_col_real(st, 2));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        dc_curves_free(out);
        return arc_fail(a, rc, "cannot read curves", err, errcap);
    }
    return 0;
}
