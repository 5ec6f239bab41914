/* archive_schema.h — the archive's schema history and the machinery that walks an archive
 * forward through it. Internal to the archive, and to its tests, which simulate a future
 * discover by opening an archive with an extra step (archive_open_with).
 *
 * Versioning: PRAGMA user_version is the schema version; PRAGMA application_id marks the
 * file as a discover archive, so a foreign SQLite database is recognised and left alone.
 * Step i takes an archive from version steps[i].from to steps[i].from + 1 in ONE
 * transaction (the statements and the user_version bump commit together or not at all). */
#ifndef DC_ARCHIVE_SCHEMA_H
#define DC_ARCHIVE_SCHEMA_H

#include "archive.h"

#include <sqlite3.h>

/* 'DSCV': written into the SQLite header by the first migration step. */
#define ARCHIVE_APPLICATION_ID 0x44534356

typedef struct {
    int from;            /* the step applies to an archive at this version ... */
    const char *summary; /* ... leaves it at from + 1; one line for messages */
    const char *sql;     /* statements, run inside the step's transaction */
} arc_migration;

/* The real history: step 0 -> 1 creates the version-1 schema in an empty database. */
extern const arc_migration arc_migrations[];
extern const int arc_migration_count;

/* Applies the steps from the database's current user_version up to target, each in its
 * own IMMEDIATE transaction, the version read inside it (so concurrent openers of an old or
 * new archive apply each step once). -1 with a message naming path and the failing step
 * (the archive is then left at the last completed version). */
int arc_migrate(sqlite3 *db, const char *path, const arc_migration *steps, int nsteps, int target,
                char *err, size_t errcap);

/* 1 when steps lead from version `from` to `target` without a gap (checked before anything
 * is written, so an archive we cannot upgrade is left exactly as it was). */
int arc_migration_path_ok(const arc_migration *steps, int nsteps, int from, int target);

/* archive_open with another schema history and target version (tests: "a future discover
 * whose code is at schema `target`"). archive_open is archive_open_with(arc_migrations,
 * arc_migration_count, ARCHIVE_SCHEMA_VERSION). */
int archive_open_with(const char *path, int flags, const arc_migration *steps, int nsteps,
                      int target, archive **out, char *err, size_t errcap);

#endif
