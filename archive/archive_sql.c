/* archive_sql.c — the small SQLite helpers every archive file uses: errors that say what
 * to do, transactions, and NULL/NaN-aware column access. */
#include "archive_internal.h"

#include "common/status.h"
#include "common/util.h"

#include <math.h>
#include <string.h>

int arc_fail(archive *a, int rc, const char *what, char *err, size_t errcap)
{
    const char *detail = sqlite3_errmsg(a->db);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        dc_fmt(err, errcap,
               "%s: archive %s is locked: another discover process holds it (waited %.1f s); "
               "wait for it to finish or pass another --archive",
               what, a->path, a->busy_ms / 1000.0);
        break;
    case SQLITE_READONLY:
        dc_fmt(err, errcap,
               "%s: archive %s is read-only (the file or its directory is not writable); "
               "read commands (ls, show, export, campaigns) still work",
               what, a->path);
        break;
    case SQLITE_FULL:
        dc_fmt(err, errcap, "%s: the disk holding archive %s is full; free space and retry", what,
               a->path);
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        /* Retrying cannot help and writing more may lose more: say how to get the rows
         * out into a new file. */
        a->damaged = 1;
        dc_fmt(err, errcap,
               "%s: archive %s is damaged (%s); stop writing to it, keep a copy, and recover "
               "what it holds into a new file: sqlite3 '%s' .recover | sqlite3 '%s.recovered' "
               "(then use --archive '%s.recovered'), or restore it from a backup",
               what, a->path, detail, a->path, a->path, a->path);
        break;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
            dc_fmt(err, errcap,
                   "%s: archive %s has no such campaign, candidate or LLM call to refer to", what,
                   a->path);
            break;
        }
        dc_fmt(err, errcap, "%s: archive %s: %s", what, a->path, detail);
        break;
    default:
        dc_fmt(err, errcap, "%s: archive %s: %s", what, a->path, detail);
    }
    return -1;
}

int arc_prepare(archive *a, const char *sql, sqlite3_stmt **st, char *err, size_t errcap)
{
    int rc = sqlite3_prepare_v2(a->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return arc_fail(a, rc, "cannot prepare a query", err, errcap);
    }
    return 0;
}

int arc_require_writable(archive *a, const char *what, char *err, size_t errcap)
{
    if (!a->readonly) return 0;
    dc_fmt(err, errcap, "%s: archive %s was opened read-only", what, a->path);
    return -1;
}

int arc_begin(archive *a, char *err, size_t errcap)
{
    int rc = sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : arc_fail(a, rc, "cannot start a write", err, errcap);
}

int arc_commit(archive *a, char *err, size_t errcap)
{
    int rc = sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK) return 0;
    arc_fail(a, rc, "cannot commit", err, errcap);
    arc_rollback(a);
    return -1;
}

void arc_rollback(archive *a)
{
    /* Some errors (disk full, I/O) already rolled the transaction back. */
    if (!sqlite3_get_autocommit(a->db)) sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
}

char *arc_col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return dc_strdup(t ? (const char *)t : "");
}

double arc_col_real(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NAN;
    return sqlite3_column_double(st, col);
}

int arc_bind_real(sqlite3_stmt *st, int idx, double v)
{
    return isnan(v) ? sqlite3_bind_null(st, idx) : sqlite3_bind_double(st, idx, v);
}

int arc_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    return sqlite3_bind_text(st, idx, s ? s : "", -1, SQLITE_TRANSIENT);
}

int arc_bind_ref(sqlite3_stmt *st, int idx, int64_t id)
{
    return id > 0 ? sqlite3_bind_int64(st, idx, id) : sqlite3_bind_null(st, idx);
}

int arc_valid_candidate_status(const char *s)
{
    return s && dc_status_parse(s) >= 0;
}
