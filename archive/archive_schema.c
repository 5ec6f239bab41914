/* archive_schema.c — the schema, one migration step per version, and the loop that applies
 * them. To change the schema: add a step {N, "...", "ALTER TABLE ..."} at the end, bump
 * ARCHIVE_SCHEMA_VERSION in archive.h, and keep old steps exactly as they shipped. */
#include "archive_schema.h"

#include "common/util.h"

#include <stdio.h>

/* Version 1. Conventions: ids are INTEGER PRIMARY KEY; "no reference" is NULL (the API
 * says 0); a missing score is NULL (the API says has_fitness = 0 / NaN); times are ISO 8601
 * UTC text. Curves belong to a candidate or an evaluation (owner_kind + owner_id) and keep
 * their insertion order through the rowid. */
static const char schema_v1[] =
    "PRAGMA application_id = 1146307414;\n" /* ARCHIVE_APPLICATION_ID, 'DSCV' */
    "CREATE TABLE campaigns (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  task TEXT NOT NULL,\n"
    "  config_json TEXT NOT NULL DEFAULT '{}',\n"
    "  proposer TEXT NOT NULL,\n"
    "  model TEXT NOT NULL DEFAULT '',\n"
    "  seed INTEGER NOT NULL DEFAULT 0,\n"
    "  status TEXT NOT NULL,\n"
    "  created_at TEXT NOT NULL,\n"
    "  updated_at TEXT NOT NULL);\n"
    "CREATE TABLE llm_calls (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  generation INTEGER NOT NULL,\n"
    "  request_json TEXT NOT NULL,\n"
    "  response_raw TEXT NOT NULL DEFAULT '',\n"
    "  http_status INTEGER NOT NULL DEFAULT 0,\n"
    "  tokens_in INTEGER NOT NULL DEFAULT 0,\n"
    "  tokens_out INTEGER NOT NULL DEFAULT 0,\n"
    "  latency_s REAL NOT NULL DEFAULT 0,\n"
    "  cost REAL NOT NULL DEFAULT 0,\n"
    "  error TEXT NOT NULL DEFAULT '',\n"
    "  created_at TEXT NOT NULL);\n"
    "CREATE INDEX llm_calls_by_campaign ON llm_calls(campaign_id, id);\n"
    "CREATE TABLE candidates (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  generation INTEGER NOT NULL,\n"
    "  parents_json TEXT NOT NULL DEFAULT '[]',\n"
    "  name TEXT NOT NULL,\n"
    "  thought TEXT NOT NULL DEFAULT '',\n"
    "  code TEXT NOT NULL,\n"
    "  code_hash TEXT NOT NULL,\n"
    "  fingerprint TEXT NOT NULL DEFAULT '',\n"
    "  status TEXT NOT NULL,\n"
    "  message TEXT NOT NULL DEFAULT '',\n"
    "  duplicate_of INTEGER REFERENCES candidates(id),\n"
    "  fitness REAL,\n"
    "  test_metric REAL,\n"
    "  metrics_json TEXT NOT NULL DEFAULT '{}',\n"
    "  seconds REAL NOT NULL DEFAULT 0,\n"
    "  llm_call_id INTEGER REFERENCES llm_calls(id),\n"
    "  created_at TEXT NOT NULL);\n"
    "CREATE INDEX candidates_by_campaign ON candidates(campaign_id, generation);\n"
    "CREATE INDEX candidates_by_hash ON candidates(campaign_id, code_hash);\n"
    "CREATE INDEX candidates_by_fingerprint ON candidates(campaign_id, fingerprint);\n"
    "CREATE INDEX candidates_by_fitness ON candidates(campaign_id, fitness);\n"
    "CREATE TABLE evaluations (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  candidate_id INTEGER NOT NULL REFERENCES candidates(id),\n"
    "  task TEXT NOT NULL,\n"
    "  seed INTEGER NOT NULL DEFAULT 0,\n"
    "  params_json TEXT NOT NULL DEFAULT '{}',\n"
    "  status TEXT NOT NULL,\n"
    "  message TEXT NOT NULL DEFAULT '',\n"
    "  fitness REAL,\n"
    "  test_metric REAL,\n"
    "  metrics_json TEXT NOT NULL DEFAULT '{}',\n"
    "  seconds REAL NOT NULL DEFAULT 0,\n"
    "  created_at TEXT NOT NULL);\n"
    "CREATE INDEX evaluations_by_candidate ON evaluations(candidate_id, id);\n"
    "CREATE TABLE curves (\n"
    "  owner_kind TEXT NOT NULL CHECK (owner_kind IN ('candidate', 'evaluation')),\n"
    "  owner_id INTEGER NOT NULL,\n"
    "  metric TEXT NOT NULL,\n"
    "  step INTEGER NOT NULL,\n"
    "  value REAL);\n"
    "CREATE INDEX curves_by_owner ON curves(owner_kind, owner_id, metric, step);\n";

/* Version 2. campaign_leases: the process running a campaign (one row while it runs; a
 * second `run --resume` is refused while the owner lives, see archive_lease.c).
 * llm_calls.response_bytes: the size of the response body as received, which exceeds the
 * stored copy when the proposer cut an oversized reply (0 for calls archived before). */
static const char schema_v2[] =
    "CREATE TABLE campaign_leases (\n"
    "  campaign_id INTEGER PRIMARY KEY REFERENCES campaigns(id),\n"
    "  pid INTEGER NOT NULL,\n"
    "  host TEXT NOT NULL,\n"
    "  started_at TEXT NOT NULL,\n"
    "  heartbeat_at TEXT NOT NULL);\n"
    "ALTER TABLE llm_calls ADD COLUMN response_bytes INTEGER NOT NULL DEFAULT 0;\n";

/* Version 3, for the campaign engine, confirmation and several models (one step so that
 * the features that use the columns can land in any order):
 * candidates.island: the sub-population the candidate belongs to (0 with one island);
 * candidates.evaluator: the evaluator that trained it (0..N-1 of --jobs N; 0 with --jobs 1,
 *   the campaign process itself; -1: none recorded: never evaluated, or archived before
 *   discover filled the column, which nothing did when this step shipped);
 * candidates.eval_started_at: when its evaluation began ('' when unknown; ISO 8601 UTC with
 *   microseconds), which with `seconds` places it on the report's evaluator timeline;
 * evaluations.purpose: why an evaluation was made ('' for replay/eval, 'confirm' for a
 *   re-training on fresh seeds that decides a campaign's winner);
 * llm_calls.model: the model that answered the call ('' for calls before this version:
 *   the campaign's model);
 * llm_calls.island: the island whose prompt the call was built from. */
static const char schema_v3[] =
    "ALTER TABLE candidates ADD COLUMN island INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE candidates ADD COLUMN evaluator INTEGER NOT NULL DEFAULT -1;\n"
    "ALTER TABLE candidates ADD COLUMN eval_started_at TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE evaluations ADD COLUMN purpose TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE llm_calls ADD COLUMN model TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE llm_calls ADD COLUMN island INTEGER NOT NULL DEFAULT 0;\n";

const arc_migration arc_migrations[] = {
    {0, "create the version-1 schema (campaigns, candidates, evaluations, curves, llm_calls)",
     schema_v1},
    {1, "add campaign_leases (one process per campaign) and llm_calls.response_bytes", schema_v2},
    {2, "add candidates.island/evaluator/eval_started_at, evaluations.purpose, llm_calls.model/island",
     schema_v3},
};
const int arc_migration_count = (int)(sizeof arc_migrations / sizeof arc_migrations[0]);

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static const arc_migration *find_step(const arc_migration *steps, int nsteps, int from)
{
    for (int i = 0; i < nsteps; i++)
        if (steps[i].from == from) return &steps[i];
    return NULL;
}

int arc_migration_path_ok(const arc_migration *steps, int nsteps, int from, int target)
{
    for (int v = from; v < target; v++)
        if (!find_step(steps, nsteps, v)) return 0;
    return 1;
}

int arc_migrate(sqlite3 *db, const char *path, const arc_migration *steps, int nsteps, int target,
                char *err, size_t errcap)
{
    for (;;) {
        /* The version is read inside the write transaction: two processes that both found
         * an old (or empty) archive queue here, and the second then sees the first one's
         * result instead of applying the same step again ("table campaigns already
         * exists"). */
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            int busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
            dc_fmt(err, errcap, "cannot upgrade archive %s: %s%s", path, sqlite3_errmsg(db),
                   busy ? "; another discover process holds the archive, try again when it ends"
                        : "");
            return -1;
        }
        int v = 0;
        if (user_version(db, &v) != 0) {
            dc_fmt(err, errcap, "cannot read the schema version of archive %s: %s", path,
                   sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (v >= target) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); /* nothing was written */
            return 0;
        }
        const arc_migration *s = find_step(steps, nsteps, v);
        if (!s) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            dc_fmt(err, errcap,
                   "archive %s is at schema %d and this discover has no upgrade step from it "
                   "(it knows schema %d); the archive was left unchanged",
                   path, v, target);
            return -1;
        }
        /* PRAGMA takes no bound parameters; the number is ours (v + 1), never user data. */
        char bump[64];
        dc_fmt(bump, sizeof bump, "PRAGMA user_version = %d;", v + 1);
        char *msg = NULL;
        rc = sqlite3_exec(db, s->sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, bump, NULL, NULL, &msg);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            int busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
            dc_fmt(err, errcap, "cannot upgrade archive %s from schema %d to %d (%s): %s%s", path,
                   v, v + 1, s->summary, msg ? msg : sqlite3_errstr(rc),
                   busy ? "; another discover process holds the archive, try again when it ends"
                        : "; the archive was left at the earlier version");
            sqlite3_free(msg);
            if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
}
