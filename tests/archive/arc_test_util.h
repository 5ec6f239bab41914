/* arc_test_util.h — helpers shared by the archive tests: scratch directories, whole-file
 * comparison, raw SQLite access (to inspect what the archive API wrote, independently of
 * it), and a small campaign/candidate factory. */
#ifndef ARC_TEST_UTIL_H
#define ARC_TEST_UTIL_H

#define _GNU_SOURCE
#include "archive/archive.h"
#include "common/util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp); removed by tu_rmdir at the end. */
static inline char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/dc_archive_test.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(2);
    }
    return dc_strdup(d);
}

static inline void tu_rmdir(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

static inline char *tu_path(const char *dir, const char *name)
{
    dc_sb b = {0};
    dc_sb_printf(&b, "%s/%s", dir, name);
    return dc_sb_take(&b);
}

static inline int tu_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Whole file contents (NULL when unreadable); *len set. */
static inline char *tu_slurp(const char *path, size_t *len)
{
    char err[256];
    return dc_read_file(path, 0, len, err, sizeof err);
}

static inline void tu_write(const char *path, const char *text)
{
    char err[256];
    if (dc_write_file(path, text, strlen(text), err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

/* Runs SQL on a raw connection (no archive code involved). 0 on success. */
static inline int tu_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "tu_sql: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* First column of the first row as an integer (or -999 on error). */
static inline long long tu_sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    long long v = -999;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return v;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/* First column of the first row as text (new string, "" on error). */
static inline char *tu_sql_text(const char *path, const char *sql)
{
    sqlite3 *db;
    char *v = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                v = dc_strdup((const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
        sqlite3_close(db);
    }
    return v ? v : dc_strdup("");
}

static inline int64_t tu_campaign(archive *a, const char *name, const char *task)
{
    arc_campaign c = {0};
    c.name = dc_strdup(name);
    c.task = dc_strdup(task);
    c.proposer = dc_strdup("evolve");
    c.model = dc_strdup("");
    c.config_json = dc_strdup("{\"steps\":10}");
    c.seed = 1;
    char err[512];
    if (archive_campaign_create(a, &c, err, sizeof err)) {
        fprintf(stderr, "tu_campaign: %s\n", err);
        exit(2);
    }
    int64_t id = c.id;
    arc_campaign_free(&c);
    return id;
}

/* Inserts a candidate; fitness NaN = unscored. Returns its id (exits on failure). */
static inline int64_t tu_candidate(archive *a, int64_t campaign, int gen, const char *name,
                                   const char *code, const char *status, double fitness,
                                   double test)
{
    arc_candidate c = {0};
    c.campaign_id = campaign;
    c.generation = gen;
    c.name = dc_strdup(name);
    c.thought = dc_strdup("a thought");
    c.code = dc_strdup(code);
    c.status = dc_strdup(status);
    c.has_fitness = fitness == fitness;
    c.fitness = fitness;
    c.test_metric = test;
    c.seconds = 1.5;
    char err[512];
    if (archive_candidate_insert(a, &c, err, sizeof err)) {
        fprintf(stderr, "tu_candidate: %s\n", err);
        exit(2);
    }
    int64_t id = c.id;
    arc_candidate_free(&c);
    return id;
}

#endif
