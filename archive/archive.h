/* archive.h — the campaign's memory: an SQLite database of campaigns, candidates,
 * evaluations, curves and LLM calls.
 *
 * Rules: WAL mode and a busy timeout; every write that belongs together is one
 * transaction (a candidate and its curves, say); PRAGMA user_version carries the schema
 * version, older archives are migrated forward on open, newer ones are refused with a
 * message; a failed command never modifies the archive. API keys never reach it.
 *
 * All functions return 0 on success and -1 on failure with a message in err (naming the
 * archive path and what to do), unless documented otherwise. Text fields of records
 * returned by getters are owned by the record: free them with the matching *_free(). */
#ifndef DC_ARCHIVE_H
#define DC_ARCHIVE_H

#include "common/curve.h"

#include <stddef.h>
#include <stdint.h>

#define ARCHIVE_SCHEMA_VERSION 3
#define ARCHIVE_DEFAULT_PATH "discover.db" /* in the current directory; $DISCOVER_ARCHIVE overrides */

typedef struct archive archive;

enum {
    ARC_READONLY = 1, /* open read-only; never writes, never migrates (refuses an old schema) */
    ARC_CREATE = 2,   /* create the file and schema when missing */
};

/* Default archive path: $DISCOVER_ARCHIVE if set, else ARCHIVE_DEFAULT_PATH. */
const char *archive_default_path(void);

/* Opens (and with ARC_CREATE creates) an archive. Refuses, without touching the file: a
 * missing file (unless ARC_CREATE; never with ARC_READONLY), a file that is not SQLite, an
 * SQLite database that is not a discover archive, an archive of a newer schema, and (with
 * ARC_READONLY) one of an older schema. A writable open upgrades an older schema. */
int archive_open(const char *path, int flags, archive **out, char *err, size_t errcap);
void archive_close(archive *a);
const char *archive_path(const archive *a);
/* 1 once a call failed because the file is corrupt (its message then says how to recover
 * the rows with `sqlite3 FILE .recover`): callers must not promise that --resume goes on. */
int archive_is_damaged(const archive *a);

/* How long a write waits for another process's transaction before failing with "locked":
 * ARCHIVE_BUSY_TIMEOUT_MS, or $DISCOVER_ARCHIVE_BUSY_MS when set (read by archive_open). */
#define ARCHIVE_BUSY_TIMEOUT_MS 5000
void archive_set_busy_timeout(archive *a, int ms);

/* ---- campaigns ---- */
typedef struct {
    int64_t id;
    char *name;
    char *task;        /* the task's registered name */
    char *config_json; /* full effective configuration (task options, proposer, budgets) */
    char *proposer;    /* "evolve", "llm", "replay:PATH" */
    char *model;       /* LLM model name, or "" */
    int64_t seed;
    char *status;      /* "running", "finished", "interrupted", "failed", "budget" */
    char *created_at;  /* ISO 8601 UTC */
    char *updated_at;
} arc_campaign;
void arc_campaign_free(arc_campaign *c);

/* Inserts c (id, created_at, updated_at are set on success). Names are unique: -1 with a
 * message when one exists. */
int archive_campaign_create(archive *a, arc_campaign *c, char *err, size_t errcap);
/* 0 found, 1 not found, -1 error. */
int archive_campaign_by_name(archive *a, const char *name, arc_campaign *out, char *err, size_t errcap);
int archive_campaign_by_id(archive *a, int64_t id, arc_campaign *out, char *err, size_t errcap);
int archive_campaign_set_status(archive *a, int64_t id, const char *status, char *err, size_t errcap);
/* All campaigns, oldest first; *out is an array of *n records (free each, then the array). */
int archive_campaign_list(archive *a, arc_campaign **out, int *n, char *err, size_t errcap);
/* Counts for listings (`discover campaigns`). */
typedef struct {
    int candidates;      /* all candidates, any status */
    int scored;          /* candidates with a fitness */
    int pending;         /* still in flight */
    int max_generation;  /* -1 when none */
    double best_fitness; /* NaN when none is scored */
} arc_campaign_stats;
int archive_campaign_summary(archive *a, int64_t campaign_id, arc_campaign_stats *s, char *err,
                             size_t errcap);

/* ---- campaign leases: one campaign, one process ----
 * The process that runs a campaign holds its lease: a row naming its pid and host, with a
 * heartbeat it refreshes every ARCHIVE_LEASE_HEARTBEAT_S seconds (a thread, so a long
 * training step or LLM call does not starve it). Another process may take the lease only
 * when its owner is dead: on the same host, no process with that pid exists; on any host,
 * the heartbeat is older than ARCHIVE_LEASE_STALE_S seconds. */
#define ARCHIVE_LEASE_HEARTBEAT_S 10
#define ARCHIVE_LEASE_STALE_S 120

typedef struct {
    long long pid;
    char host[256];
    char started_at[32]; /* ISO 8601 UTC */
    char heartbeat_at[32];
    double age_s; /* seconds since the last heartbeat */
} arc_lease;

/* Takes the lease of the campaign for this process (getpid(), gethostname()), in one write
 * transaction. 0: taken (it was free, already this process's, or its owner was dead: then
 * *took_over = 1, *prev names the old owner and why says why it was judged dead); 1: held
 * by a live owner (*prev names it, nothing written); -1 error. */
int archive_lease_acquire(archive *a, int64_t campaign_id, arc_lease *prev, int *took_over,
                          char *why, size_t whycap, char *err, size_t errcap);
/* Refreshes this process's heartbeat: 0 done, 1 the lease is no longer this process's
 * (another took it over: *now names it when not NULL), -1 error. */
int archive_lease_heartbeat(archive *a, int64_t campaign_id, arc_lease *now, char *err,
                            size_t errcap);
/* Gives the lease up if this process holds it (else changes nothing). */
int archive_lease_release(archive *a, int64_t campaign_id, char *err, size_t errcap);
/* The current lease: 0 found, 1 none, -1 error. */
int archive_lease_get(archive *a, int64_t campaign_id, arc_lease *out, char *err, size_t errcap);

/* The heartbeat thread: its own connection to the archive at path, refreshing the lease
 * every ARCHIVE_LEASE_HEARTBEAT_S seconds until stopped. NULL with err when it cannot
 * start. */
typedef struct arc_keepalive arc_keepalive;
arc_keepalive *archive_lease_keepalive(const char *path, int64_t campaign_id, char *err,
                                       size_t errcap);
/* 1 once a heartbeat found the lease taken over (owner in *now when not NULL). */
int archive_keepalive_lost(arc_keepalive *k, arc_lease *now);
/* Stops the thread and closes its connection. NULL is allowed. */
void archive_keepalive_stop(arc_keepalive *k);

/* ---- candidates ---- */
typedef struct {
    int64_t id;
    int64_t campaign_id;
    int generation;       /* 0 for seed baselines, then 1, 2, ... */
    char *parents_json;   /* JSON array of candidate ids, "[]" when none */
    char *name;
    char *thought;
    char *code;
    char *code_hash;      /* hash of the normalised code (archive_code_hash) */
    char *fingerprint;    /* behaviour fingerprint (sandbox), or "" when not computed */
    char *status;         /* "pending" while in flight, then a dc_status name */
    char *message;        /* failure detail or "" */
    int64_t duplicate_of; /* original candidate when status is "duplicate", else 0 */
    int has_fitness;      /* 0 when the candidate produced no score */
    double fitness;       /* validation metric (shown to the proposer) */
    double test_metric;   /* held-out metric (never shown) */
    char *metrics_json;   /* task metrics object, "{}" when none */
    double seconds;       /* wall time of compile + pre-screen + training + scoring */
    int64_t llm_call_id;  /* the LLM exchange that produced it, 0 when none */
    int island;           /* its sub-population (run --islands; 0 with one island) */
    char *created_at;
    /* Where and when it was evaluated (the report's evaluator timeline): evaluator 0..N-1
     * of run --jobs N (0 with --jobs 1: the campaign process itself), -1 when no evaluator
     * ran it (a reply that did not parse, a row still pending, a campaign archived before
     * these were recorded); eval_started_at, ISO 8601 UTC with microseconds, when it was
     * handed to the evaluator ("" when unknown). It finished at eval_started_at + seconds. */
    int evaluator;
    char *eval_started_at;
    dc_curves curves;     /* written with the candidate, read back by archive_candidate_get */
} arc_candidate;
void arc_candidate_free(arc_candidate *c);

/* The normalised-code hash used for exact de-duplication: comments removed, whitespace
 * runs collapsed (dropped entirely where no token boundary needs them, so "a+b" and
 * "a + b" agree; string literals kept verbatim), except that the line break ending a
 * preprocessor line (# ...) is kept, since it ends the directive; backslash-newline joins
 * lines as the compiler does. Then hashed; 16 hex digits into out (>= 17 bytes). */
void archive_code_hash(const char *code, char *out, size_t cap);

/* Inserts a candidate with its curves in one transaction; sets c->id and c->created_at. */
int archive_candidate_insert(archive *a, arc_candidate *c, char *err, size_t errcap);
/* Replaces status, message, duplicate_of, fitness, test_metric, metrics, seconds,
 * fingerprint and curves of an existing candidate (a pending one finishing), in one
 * transaction; evaluator and eval_started_at too when eval_started_at is set (non-empty),
 * else they keep what the row has. Insert leaves them at -1 and "". */
int archive_candidate_finish(archive *a, const arc_candidate *c, char *err, size_t errcap);
/* 0 found, 1 not found, -1 error. Loads curves too. */
int archive_candidate_get(archive *a, int64_t id, arc_candidate *out, char *err, size_t errcap);

typedef struct {
    int64_t campaign_id; /* 0 = every campaign */
    const char *status;  /* NULL = any */
    int top_k;           /* > 0: the K best by fitness (scored only), else all in id order */
    int with_code;       /* 0: leave code/thought NULL (cheaper listings) */
} arc_filter;
/* Candidates matching f, without curves. */
int archive_candidate_list(archive *a, const arc_filter *f, arc_candidate **out, int *n,
                           char *err, size_t errcap);
/* First candidate of the campaign with this code hash / fingerprint whose outcome would
 * repeat: final, and not "duplicate", "interrupted", "timeout" (wall-clock, load-dependent)
 * or "error" (infrastructure). 0 found (*id set), 1 none, -1 error. */
int archive_find_by_hash(archive *a, int64_t campaign_id, const char *code_hash, int64_t *id,
                         char *err, size_t errcap);
int archive_find_by_fingerprint(archive *a, int64_t campaign_id, const char *fingerprint,
                                int64_t *id, char *err, size_t errcap);
/* Largest generation in the campaign (-1 when it has no candidate). */
int archive_max_generation(archive *a, int64_t campaign_id, int *gen, char *err, size_t errcap);

/* ---- evaluations (replays, held-out sweeps) ---- */
typedef struct {
    int64_t id;
    int64_t candidate_id;
    char *task;
    int64_t seed;
    char *params_json;  /* {"beta":0.1,"steps":300,...} */
    char *status;
    char *message;
    double fitness, test_metric;
    char *metrics_json;
    double seconds;
    char *created_at;
    char *purpose;      /* "" for replay/eval, "confirm" for a confirmation (NULL = "") */
    dc_curves curves;
} arc_evaluation;
void arc_evaluation_free(arc_evaluation *e);
int archive_evaluation_insert(archive *a, arc_evaluation *e, char *err, size_t errcap);
int archive_evaluation_list(archive *a, int64_t candidate_id, arc_evaluation **out, int *n,
                            char *err, size_t errcap);

/* ---- confirmation (evaluations with purpose 'confirm') ---- */
typedef struct {
    int64_t candidate_id;
    char *name;
    double search_fitness, search_test; /* the candidate's own row (the search's seeds) */
    double fitness, test_metric;        /* means over its confirmations that trained ("ok") */
    int n;                              /* how many trained */
    int nfailed;                        /* confirmations that did not train */
} arc_confirmed;
void arc_confirmed_free(arc_confirmed *c);
/* The confirmed candidates of a campaign, best mean confirmed fitness first (ties: lower
 * id); a candidate whose confirmations all failed comes last with n = 0. */
int archive_confirmed_list(archive *a, int64_t campaign_id, arc_confirmed **out, int *n,
                           char *err, size_t errcap);

/* ---- LLM calls ---- */
typedef struct {
    int64_t id;
    int64_t campaign_id;
    int generation;
    char *request_json;  /* the exact request body sent (no key: keys travel in headers) */
    char *response_raw;  /* the raw response body, or "" */
    int http_status;     /* 0 when no HTTP response (connection refused, timeout) */
    int tokens_in, tokens_out;
    double latency_s;
    double cost;         /* in the user's currency units, from the configured prices */
    char *error;         /* "" on success */
    char *created_at;    /* when it was archived, right after the reply: ISO 8601 UTC, with
                            microseconds since the evaluator timeline (seconds before); the
                            call ran from created_at - latency_s to created_at */
    int64_t response_bytes; /* size of the body as received: more than strlen(response_raw)
                               when an oversized reply was stored cut; insert: 0 = the length
                               of response_raw; reads 0 for calls archived before schema 2 */
    int island;          /* the island whose context the prompt was built from (0 with one) */
    char *model;         /* the model that answered ("" for calls archived before schema 3:
                            the campaign's model) */
} arc_llm_call;
void arc_llm_call_free(arc_llm_call *c);
int archive_llm_call_insert(archive *a, arc_llm_call *c, char *err, size_t errcap);
int archive_llm_call_get(archive *a, int64_t id, arc_llm_call *out, char *err, size_t errcap);
/* All calls of a campaign in order (for the replay proposer and the report). */
int archive_llm_call_list(archive *a, int64_t campaign_id, arc_llm_call **out, int *n,
                          char *err, size_t errcap);
/* Totals for budgets: calls, tokens in+out and cost of a campaign. */
int archive_llm_totals(archive *a, int64_t campaign_id, int *calls, long long *tokens,
                       double *cost, char *err, size_t errcap);
/* What the model selector needs of each call, without the bodies (a campaign's requests
 * grow with its history: reading them all before every call would be quadratic). */
typedef struct {
    int64_t id;
    char model[128]; /* "" for calls before schema 3 (names are at most 127 characters) */
    double cost;
    int failed;      /* the call has an error (no reply was used) */
} arc_llm_outcome;
/* All calls of a campaign in id order; *out is malloc'ed (free it). */
int archive_llm_outcomes(archive *a, int64_t campaign_id, arc_llm_outcome **out, int *n,
                         char *err, size_t errcap);
/* One model's share of a campaign's calls (`ls`, `show`): calls, tokens, cost, candidates
 * that scored ok, the best fitness among its candidates. */
typedef struct {
    char *model;
    int calls, ok;
    long long tokens_in, tokens_out;
    double cost;
    int has_best;
    double best_fitness;
} arc_model_stat;
void arc_model_stats_free(arc_model_stat *s, int n);
/* Per model, in the order each first answered. */
int archive_llm_model_stats(archive *a, int64_t campaign_id, arc_model_stat **out, int *n,
                            char *err, size_t errcap);

#endif
