/* archive_open.c — opening an archive safely: every refusal (missing, not SQLite, foreign
 * database, newer schema, locked, read-only) is decided by reading only, before anything is
 * written, so a failed command never modifies the file. */
#define _GNU_SOURCE
#include "archive_internal.h"
#include "archive_schema.h"

#include "common/util.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *archive_default_path(void)
{
    const char *env = getenv("DISCOVER_ARCHIVE");
    return env && *env ? env : ARCHIVE_DEFAULT_PATH;
}

const char *archive_path(const archive *a)
{
    return a->path;
}

int archive_is_damaged(const archive *a)
{
    return a && a->damaged;
}

void archive_set_busy_timeout(archive *a, int ms)
{
    a->busy_ms = ms < 0 ? 0 : ms;
    sqlite3_busy_timeout(a->db, a->busy_ms);
}

void archive_close(archive *a)
{
    if (!a) return;
    sqlite3_close(a->db); /* all statements are finalised by their users */
    free(a->path);
    free(a);
}

static int env_busy_ms(void)
{
    const char *s = getenv("DISCOVER_ARCHIVE_BUSY_MS");
    if (!s || !*s) return ARCHIVE_BUSY_TIMEOUT_MS;
    char *end;
    long v = strtol(s, &end, 10);
    return (*end || v < 0 || v > 3600000) ? ARCHIVE_BUSY_TIMEOUT_MS : (int)v;
}

/* Checks the 16-byte SQLite magic ourselves so a text file gets a clear message rather than
 * SQLite's "file is not a database" later. 0 = SQLite, 1 = not, -1 = unreadable. */
static int sniff_sqlite(const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dc_fmt(err, errcap, "cannot read archive %s: %s", path, strerror(errno));
        return -1;
    }
    char magic[16];
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return n == sizeof magic && memcmp(magic, "SQLite format 3", 16) == 0 ? 0 : 1;
}

static int dir_writable(const char *path)
{
    char *copy = dc_strdup(path);
    int ok = access(dirname(copy), W_OK | X_OK) == 0;
    free(copy);
    return ok;
}

/* "file:<percent-encoded path>?immutable=1": read a WAL archive in a directory where the
 * -shm file cannot be created. Only used when no -wal file exists, i.e. when no writer can
 * be active (a writer needs the -wal file). */
static char *immutable_uri(const char *path)
{
    dc_sb b = {0};
    dc_sb_append(&b, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p <= ' ' || *p >= 0x7f)
            dc_sb_printf(&b, "%%%02X", *p);
        else
            dc_sb_appendn(&b, (const char *)p, 1);
    }
    dc_sb_append(&b, "?immutable=1");
    return dc_sb_take(&b);
}

typedef struct {
    int app_id, version, objects;
} probe_info;

static int probe(sqlite3 *db, probe_info *pi)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT (SELECT application_id FROM pragma_application_id),"
                                " (SELECT user_version FROM pragma_user_version),"
                                " (SELECT count(*) FROM sqlite_master)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        pi->app_id = sqlite3_column_int(st, 0);
        pi->version = sqlite3_column_int(st, 1);
        pi->objects = sqlite3_column_int(st, 2);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int exec_pragma(archive *a, const char *sql, char *err, size_t errcap)
{
    int rc = sqlite3_exec(a->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : arc_fail(a, rc, "cannot configure the connection", err, errcap);
}

static int set_wal(archive *a, char *err, size_t errcap)
{
    /* Switching a new file to WAL needs an exclusive lock, and SQLite answers BUSY at once
     * (without its busy handler) when another process opening the same new archive holds a
     * lock: retry within the busy timeout. */
    int rc = SQLITE_BUSY, ok = 0;
    for (double t0 = dc_now(); (rc & 0xff) == SQLITE_BUSY;) {
        sqlite3_stmt *st;
        if (arc_prepare(a, "PRAGMA journal_mode = WAL", &st, err, errcap)) return -1;
        rc = sqlite3_step(st);
        ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
        if ((rc & 0xff) != SQLITE_BUSY || dc_now() - t0 > a->busy_ms / 1000.0) break;
        usleep(10000);
    }
    if (rc != SQLITE_ROW) return arc_fail(a, rc, "cannot switch to WAL mode", err, errcap);
    if (!ok) {
        dc_fmt(err, errcap, "archive %s cannot use WAL mode (is it on a network file system?)",
               a->path);
        return -1;
    }
    return 0;
}

/* Decides from the probe whether this is an archive we may use; 0 = yes (*fresh set when it
 * is an empty database to initialise), -1 = refused with err. */
static int judge(const archive *a, const probe_info *pi, int target, int *fresh, char *err,
                 size_t errcap)
{
    *fresh = 0;
    if (pi->app_id != ARCHIVE_APPLICATION_ID) {
        if (pi->app_id == 0 && pi->version == 0 && pi->objects == 0) {
            if (a->readonly) {
                dc_fmt(err, errcap, "file is not a discover archive (an empty database): %s",
                       a->path);
                return -1;
            }
            *fresh = 1;
            return 0;
        }
        dc_fmt(err, errcap,
               "file is not a discover archive (an SQLite database without discover's tables): "
               "%s; it was left untouched, pass another --archive",
               a->path);
        return -1;
    }
    if (pi->version > target) {
        dc_fmt(err, errcap,
               "archive %s was written by a newer discover (schema %d > %d); upgrade discover",
               a->path, pi->version, target);
        return -1;
    }
    if (pi->version < target && a->readonly) {
        dc_fmt(err, errcap,
               "archive %s has an older schema (%d < %d); `discover run` on it (for example "
               "with --resume --campaign NAME) upgrades it in place, then this command works",
               a->path, pi->version, target);
        return -1;
    }
    return 0;
}

static int open_checked(archive *a, int flags, int exists, const arc_migration *steps, int nsteps,
                        int target, char *err, size_t errcap)
{
    int oflags = a->readonly ? SQLITE_OPEN_READONLY
                             : SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE);
    (void)flags;
    int rc = sqlite3_open_v2(a->path, &a->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        dc_fmt(err, errcap, "cannot open archive %s: %s", a->path,
               a->db ? sqlite3_errmsg(a->db) : sqlite3_errstr(rc));
        return -1;
    }
    sqlite3_extended_result_codes(a->db, 1);
    archive_set_busy_timeout(a, env_busy_ms());

    probe_info pi = {0};
    rc = probe(a->db, &pi);
    if (((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY) && a->readonly) {
        /* A WAL archive in a read-only directory: no -shm can be made. */
        char wal[4096];
        dc_fmt(wal, sizeof wal, "%s-wal", a->path);
        if (access(wal, F_OK) != 0) {
            sqlite3_close(a->db);
            a->db = NULL;
            char *uri = immutable_uri(a->path);
            rc = sqlite3_open_v2(uri, &a->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
            free(uri);
            if (rc != SQLITE_OK) {
                dc_fmt(err, errcap, "cannot open archive %s: %s", a->path,
                       a->db ? sqlite3_errmsg(a->db) : sqlite3_errstr(rc));
                return -1;
            }
            sqlite3_extended_result_codes(a->db, 1);
            archive_set_busy_timeout(a, a->busy_ms);
            rc = probe(a->db, &pi);
        }
    }
    if ((rc & 0xff) == SQLITE_NOTADB) {
        dc_fmt(err, errcap, "file is not a discover archive (not an SQLite database): %s", a->path);
        return -1;
    }
    if (rc != SQLITE_OK) return arc_fail(a, rc, "cannot read", err, errcap);

    int fresh;
    if (judge(a, &pi, target, &fresh, err, errcap)) return -1;
    if (!a->readonly && !arc_migration_path_ok(steps, nsteps, fresh ? 0 : pi.version, target)) {
        dc_fmt(err, errcap,
               "archive %s is at schema %d and this discover has no upgrade step from it (it "
               "knows schema %d); the archive was left unchanged",
               a->path, pi.version, target);
        return -1;
    }

    if (a->readonly) return exec_pragma(a, "PRAGMA query_only = ON", err, errcap);
    if (sqlite3_db_readonly(a->db, "main") == 1) {
        dc_fmt(err, errcap,
               "archive %s is read-only (no write permission on the file); read commands (ls, "
               "show, export, campaigns) still work",
               a->path);
        return -1;
    }
    /* Only now, with the file judged ours (or empty), do we write anything. */
    if (set_wal(a, err, errcap)) return -1;
    if (exec_pragma(a, "PRAGMA foreign_keys = ON", err, errcap)) return -1;
    /* NORMAL in WAL mode: a killed process loses nothing committed; a power cut may lose
     * the last transactions but never corrupts. */
    if (exec_pragma(a, "PRAGMA synchronous = NORMAL", err, errcap)) return -1;
    if (pi.version < target || fresh)
        if (arc_migrate(a->db, a->path, steps, nsteps, target, err, errcap)) return -1;
    return 0;
}

/* Removes the file a failed create left behind, but only while it is still empty: another
 * process opening the same new archive at the same moment may have initialised it. */
static void remove_created(const char *path)
{
    char side[4096];
    struct stat sb;
    if (stat(path, &sb) != 0 || sb.st_size != 0) return;
    if (access(dc_fmt(side, sizeof side, "%s-wal", path), F_OK) == 0) return;
    unlink(path);
    unlink(dc_fmt(side, sizeof side, "%s-wal", path));
    unlink(dc_fmt(side, sizeof side, "%s-shm", path));
}

int archive_open_with(const char *path, int flags, const arc_migration *steps, int nsteps,
                      int target, archive **out, char *err, size_t errcap)
{
    *out = NULL;
    if (!path || !*path) {
        dc_fmt(err, errcap, "no archive path given; pass --archive PATH");
        return -1;
    }
    int readonly = (flags & ARC_READONLY) != 0;
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (!exists) {
        if (errno != ENOENT) {
            dc_fmt(err, errcap, "cannot open archive %s: %s", path, strerror(errno));
            return -1;
        }
        if (readonly || !(flags & ARC_CREATE)) {
            dc_fmt(err, errcap,
                   "no archive at %s; run 'discover run' or 'discover demo' first, or pass "
                   "--archive",
                   path);
            return -1;
        }
    } else {
        if (S_ISDIR(sb.st_mode)) {
            dc_fmt(err, errcap, "%s is a directory, not an archive file; pass --archive FILE",
                   path);
            return -1;
        }
        if (sb.st_size > 0) {
            int s = sniff_sqlite(path, err, errcap);
            if (s < 0) return -1;
            if (s > 0) {
                dc_fmt(err, errcap, "file is not a discover archive (not an SQLite database): %s",
                       path);
                return -1;
            }
        }
    }
    if (!readonly && exists && access(path, W_OK) != 0) {
        dc_fmt(err, errcap,
               "archive %s is read-only (no write permission on the file); read commands (ls, "
               "show, export, campaigns) still work",
               path);
        return -1;
    }
    if (!readonly && !dir_writable(path)) {
        if (!exists)
            dc_fmt(err, errcap,
                   "cannot create archive %s: its directory does not exist or is not writable; "
                   "create the directory or choose another --archive",
                   path);
        else
            dc_fmt(err, errcap,
                   "cannot write archive %s: its directory is not writable (SQLite keeps its "
                   "-wal and -shm files beside the archive); read commands still work",
                   path);
        return -1;
    }

    archive *a = dc_calloc(1, sizeof *a);
    a->path = dc_strdup(path);
    a->readonly = readonly;
    a->busy_ms = ARCHIVE_BUSY_TIMEOUT_MS;
    if (open_checked(a, flags, exists, steps, nsteps, target, err, errcap)) {
        archive_close(a);
        if (!exists) remove_created(path);
        return -1;
    }
    *out = a;
    return 0;
}

int archive_open(const char *path, int flags, archive **out, char *err, size_t errcap)
{
    return archive_open_with(path, flags, arc_migrations, arc_migration_count,
                             ARCHIVE_SCHEMA_VERSION, out, err, errcap);
}
