/* archive_internal.h — what the archive's source files share and nobody else sees: the
 * connection struct, error reporting that names the archive, transactions, and column
 * helpers. Values only ever reach SQL through bound parameters. */
#ifndef DC_ARCHIVE_INTERNAL_H
#define DC_ARCHIVE_INTERNAL_H

#include "archive.h"

#include <sqlite3.h>

struct archive {
    sqlite3 *db;
    char *path;
    int readonly; /* opened with ARC_READONLY */
    int busy_ms;  /* busy timeout in effect */
    int damaged;  /* a call failed because the file is corrupt (archive_is_damaged) */
};

/* Writes "<what> in archive PATH: <sqlite message>" into err, with a specific sentence for
 * the failures a person can act on (locked by another process, read-only, disk full,
 * corrupt). rc is the SQLite result code of the failed call. Always returns -1. */
int arc_fail(archive *a, int rc, const char *what, char *err, size_t errcap);

/* Prepares sql (a constant: values are bound, never formatted in). -1 with err on failure. */
int arc_prepare(archive *a, const char *sql, sqlite3_stmt **st, char *err, size_t errcap);

/* Write transactions start IMMEDIATE so that waiting for another writer happens here,
 * under the busy timeout, rather than as a deadlock-prone lock upgrade later. */
int arc_begin(archive *a, char *err, size_t errcap);
int arc_commit(archive *a, char *err, size_t errcap);
void arc_rollback(archive *a);
/* -1 with a clear message when the archive was opened read-only. */
int arc_require_writable(archive *a, const char *what, char *err, size_t errcap);

/* Text column as a new string ("" for NULL). */
char *arc_col_text(sqlite3_stmt *st, int col);
/* Real column; NULL reads back as NaN (SQLite stores NaN as NULL). */
double arc_col_real(sqlite3_stmt *st, int col);
/* Binds a double; NaN becomes NULL explicitly (same as SQLite would do, but said). */
int arc_bind_real(sqlite3_stmt *st, int idx, double v);
/* Binds text; NULL binds "" so NOT NULL columns accept optional fields. */
int arc_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Binds an id where 0 means "none": 0 binds NULL (foreign keys). */
int arc_bind_ref(sqlite3_stmt *st, int idx, int64_t id);

/* Curves of one owner ("candidate" | "evaluation"): replace and load. Replace runs inside
 * the caller's transaction. */
int arc_curves_replace(archive *a, const char *owner_kind, int64_t owner_id, const dc_curves *c,
                       char *err, size_t errcap);
int arc_curves_load(archive *a, const char *owner_kind, int64_t owner_id, dc_curves *out, char *err,
                    size_t errcap);

/* 1 when s is "pending" or a dc_status name. */
int arc_valid_candidate_status(const char *s);

#endif
