/* Hostile candidates, LLM replies and process races against the built `discover` (issue 13),
 * each a defect seen before the change:
 *  - de-duplication: a candidate equal to cross-entropy on the old 12-row fingerprint probe
 *    but NaN on the training batch, one equal to it only at n = 12, and one equal to it on
 *    every synthetic probe but not on the task's real training inputs, must not inherit
 *    cross-entropy's fitness; a renamed copy still does;
 *  - terminal output: escape sequences (window title, screen clear, OSC 52 clipboard) and a
 *    bidi override in #error and #line text, an LLM thought and a name reach no terminal
 *    raw; --json stays valid UTF-8 with \xff\xfe in a file or campaign name;
 *  - bounds: a 10 MB LLM reply is archived cut, not used, not resent; one source limit for
 *    check and eval; a damaged archive says how to recover it;
 *  - one campaign, one process: two runs at once on a new archive, a second --resume of a
 *    running campaign (refused, naming the owner), a dead owner's lease taken over.
 * The archive is read with raw SQL, so the same checks run against older code. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "common/util.h"
#include "fake_llm_server.h"
#include "run_child.h"

#include <cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

#define TASK_FLAGS                                                                                 \
    "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", "--set",            \
        "eval_every=30"

/* ---------------------------------------------------------------- helpers */

static long long sql_int(const char *db, const char *sql)
{
    sqlite3 *h;
    long long v = -999;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return v;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

static int sql_exec(const char *db, const char *sql)
{
    sqlite3 *h;
    if (sqlite3_open(db, &h) != SQLITE_OK) return -1;
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : -1;
}

/* One candidate's row, by name. */
typedef struct {
    char status[32], message[1024];
    int has_fitness;
    double fitness;
    long long duplicate_of;
} cand_row;

static int cand_by_name(const char *db, const char *name, cand_row *out)
{
    memset(out, 0, sizeof *out);
    sqlite3 *h;
    int found = 0;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h,
                           "SELECT status, message, fitness, coalesce(duplicate_of, 0) FROM "
                           "candidates WHERE name = ?1 ORDER BY id LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            found = 1;
            snprintf(out->status, sizeof out->status, "%s", sqlite3_column_text(st, 0));
            snprintf(out->message, sizeof out->message, "%s", sqlite3_column_text(st, 1));
            out->has_fitness = sqlite3_column_type(st, 2) != SQLITE_NULL;
            out->fitness = sqlite3_column_double(st, 2);
            out->duplicate_of = sqlite3_column_int64(st, 3);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return found;
}

static char *reply_json(const char *thought, const char *name, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "thought", thought);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "code", code);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* 1 when text holds a byte that drives a terminal: ESC, BEL, CSI as C1, or a raw bidi
 * override (U+202E) or isolate (U+2066). */
static int has_terminal_control(const char *text)
{
    if (!text) return 0;
    return strchr(text, '\033') || strchr(text, '\007') || strstr(text, "\xc2\x9b") ||
           strstr(text, "\xe2\x80\xae") || strstr(text, "\xe2\x81\xa6");
}

static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80                  ? 1
                  : *p >= 0xc2 && *p <= 0xdf ? 2
                  : *p >= 0xe0 && *p <= 0xef ? 3
                  : *p >= 0xf0 && *p <= 0xf4 ? 4
                                             : 0;
        if (!len) return 0;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80) return 0;
        p += len;
    }
    return 1;
}

static void write_file(const char *path, const char *text)
{
    char e[512];
    if (dc_write_file(path, text, strlen(text), e, sizeof e) != 0) fprintf(stderr, "%s\n", e);
}

/* Cross-entropy, written out; the hostile candidates below are variations of it. */
#define CE_BODY                                                                                    \
    "    for (int i = 0; i < n; i++) {\n"                                                          \
    "        const double *z = logits + i * k;\n"                                                  \
    "        double m = z[0];\n"                                                                   \
    "        for (int j = 1; j < k; j++) m = fmax(m, z[j]);\n"                                     \
    "        double s = 0.0;\n"                                                                    \
    "        for (int j = 0; j < k; j++) s += exp(z[j] - m);\n"                                    \
    "        loss[i] = m + log(s) - z[labels[i]];\n"
#define CLS_SIG                                                                                    \
    "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"

/* ---------------------------------------------------------------- de-duplication */

static void test_dedup(void)
{
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    /* NaN only at the training batch (128 rows): cross-entropy everywhere else. */
    const char *nan_train = "#include <math.h>\n" CLS_SIG "{\n" CE_BODY
                            "        if (n == 128) loss[i] = NAN;\n    }\n}\n";
    /* Cross-entropy only at the old fingerprint's batch size; half of it otherwise. */
    const char *only_12 = "#include <math.h>\n" CLS_SIG "{\n" CE_BODY
                          "        if (n != 12) loss[i] *= 0.5;\n    }\n}\n";
    /* Cross-entropy unless every logit of the row is small, as a fresh model's are, and no
     * synthetic probe's row is (N(0, 9) or U(-30, 30) logits). */
    const char *not_at_init =
        "#include <math.h>\n" CLS_SIG "{\n" CE_BODY "        double big = 0.0;\n"
        "        for (int j = 0; j < k; j++) big = fmax(big, fabs(z[j]));\n"
        "        if (big < 1.0) loss[i] = 0.25 * loss[i] * loss[i];\n"
        "    }\n}\n";
    /* The control: cross-entropy renamed and reformatted, which must still be a duplicate. */
    const char *renamed = "#include <math.h>\n/* the same loss */\n" CLS_SIG
                          "{ for (int r = 0; r < n; r++) { const double *q = logits + r * k; "
                          "double mx = q[0];\n for (int c = 1; c < k; c++) mx = fmax(mx, q[c]);\n"
                          " double acc = 0.0; for (int c = 0; c < k; c++) acc += exp(q[c] - mx);\n"
                          " loss[r] = mx + log(acc) - q[labels[r]]; } }\n";
    const char *names[] = {"nan_at_train_batch", "ce_only_at_12", "ce_not_at_init", "ce_renamed"};
    const char *codes[] = {nan_train, only_12, not_at_init, renamed};
    for (int i = 0; i < 4; i++) {
        char *r = reply_json("A loss.", names[i], codes[i]);
        fake_llm_push_content(srv, r, 100, 50);
        free(r);
    }
    char db[300];
    snprintf(db, sizeof db, "%s/dedup.db", tmpdir);
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--task",
                    "fashion",
                    "--proposer",
                    "llm",
                    "--api-base",
                    (char *)fake_llm_base_url(srv),
                    "--model",
                    "m",
                    "--generations",
                    "4",
                    "--baselines",
                    "cross_entropy",
                    "--archive",
                    db,
                    "--campaign",
                    "d",
                    "--retries",
                    "0",
                    TASK_FLAGS,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 300, &out, &err);
    CHECK_MSG(rc == 0, "run exited %d: %s", rc, err ? err : "");
    cand_row ce, c;
    CHECK(cand_by_name(db, "cross_entropy", &ce) && ce.has_fitness);
    /* Neither hostile candidate may carry cross-entropy's fitness. */
    CHECK(cand_by_name(db, "nan_at_train_batch", &c));
    CHECK_MSG(strcmp(c.status, "duplicate") && !c.has_fitness && c.duplicate_of == 0,
              "nan_at_train_batch: %s (fitness %s %g) %s", c.status, c.has_fitness ? "set" : "none",
              c.fitness, c.message);
    CHECK_STR(c.status, "nonfinite");
    CHECK(cand_by_name(db, "ce_only_at_12", &c));
    CHECK_MSG(!strcmp(c.status, "ok") && c.duplicate_of == 0, "ce_only_at_12: %s %s", c.status,
              c.message);
    /* Equal on every synthetic probe: the fingerprint matches, the real batch does not. */
    CHECK(cand_by_name(db, "ce_not_at_init", &c));
    CHECK_MSG(!strcmp(c.status, "ok") && c.duplicate_of == 0, "ce_not_at_init: %s %s", c.status,
              c.message);
    CHECK_MSG(err && strstr(err, "'ce_not_at_init' has the fingerprint of candidate 1 but is "
                                 "trained"),
              "stderr: %s", err ? err : "");
    /* A true copy is still recognised, confirmed, and inherits the fitness. */
    CHECK(cand_by_name(db, "ce_renamed", &c));
    CHECK_MSG(!strcmp(c.status, "duplicate") && c.duplicate_of == 1 && c.has_fitness &&
                  c.fitness == ce.fitness,
              "ce_renamed: %s %s", c.status, c.message);
    free(out);
    free(err);
    fake_llm_stop(srv);
}

/* ---------------------------------------------------------------- terminal output */

/* What the hostile texts hold: a window title (OSC 0), a screen clear, a cursor move up,
 * a clipboard write (OSC 52), a C1 CSI and a right-to-left override. */
#define EVIL "\033]0;pwned\007\033[2J\033[1Aok: passes the pre-screen\033]52;c;cHduZWQ=\007"

static void test_check_escapes(void)
{
    char f1[300], f2[300], f3[400];
    snprintf(f1, sizeof f1, "%s/error.c", tmpdir);
    snprintf(f2, sizeof f2, "%s/line.c", tmpdir);
    write_file(f1, "#error " EVIL " \xc2\x9b"
                   "2J \xe2\x80\xae"
                   "txt.exe\n");
    write_file(f2, "#line 1 \"" EVIL "evil.c\"\nvoid objective(int n) { undefined_name; }\n");
    for (int json = 0; json < 2; json++)
        for (int i = 0; i < 2; i++) {
            const char *file = i ? f2 : f1;
            char *argv[] = {(char *)discover_bin(), "check", (char *)file, "--task", "fashion",
                            json ? "--json" : NULL, NULL};
            char *out = NULL, *err = NULL;
            int rc = run_child(argv, NULL, 60, &out, &err);
            CHECK_MSG(rc == 2, "check %s: exit %d: %s", file, rc, err ? err : "");
            CHECK_MSG(!has_terminal_control(out) && !has_terminal_control(err),
                      "check %s%s printed control characters", file, json ? " --json" : "");
            /* shown, not obeyed: as \x1b on a terminal, as JSON's \u001b in JSON */
            CHECK_MSG(out && strstr(out, json ? "\\u001b]0;pwned" : "\\x1b]0;pwned"),
                      "check %s: the escape is not shown: %s", file, out ? out : "");
            if (json) {
                cJSON *o = cJSON_Parse(out ? out : "");
                CHECK_MSG(o && utf8_valid(out), "check --json: not valid JSON: %s", out);
                cJSON_Delete(o);
            }
            free(out);
            free(err);
        }
    /* eval: the same message through the training command. */
    char *argv[] = {(char *)discover_bin(), "eval", f1, "--task", "fashion", TASK_FLAGS, NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 120, &out, &err);
    CHECK_MSG(rc == 2, "eval: exit %d: %s", rc, err ? err : "");
    CHECK(!has_terminal_control(out) && !has_terminal_control(err));
    CHECK(out && strstr(out, "\\x1b[2J"));
    free(out);
    free(err);

    /* --json with a file name that is not UTF-8: still valid UTF-8 JSON. */
    char f3dir[300];
    snprintf(f3dir, sizeof f3dir, "%s/bad\xff\xfe", tmpdir);
    mkdir(f3dir, 0755);
    snprintf(f3, sizeof f3, "%s/name\xff\xfe.c", f3dir);
    write_file(f3, "#include <math.h>\n" CLS_SIG "{\n" CE_BODY "    }\n}\n");
    char *argj[] = {(char *)discover_bin(), "check", f3, "--task", "fashion", "--json", NULL};
    rc = run_child(argj, NULL, 60, &out, &err);
    CHECK_MSG(rc == 0, "check --json %s: exit %d: %s", "name\\xff\\xfe.c", rc, err ? err : "");
    CHECK_MSG(out && utf8_valid(out), "check --json output is not valid UTF-8");
    cJSON *o = cJSON_Parse(out ? out : "");
    cJSON *file = cJSON_GetObjectItem(o, "file");
    CHECK(cJSON_IsString(file) && strstr(file->valuestring, "name\xef\xbf\xbd\xef\xbf\xbd.c"));
    cJSON_Delete(o);
    free(out);
    free(err);
}

static void test_campaign_escapes(void)
{
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    /* An LLM reply whose thought, name and code (an #error) carry the sequences. */
    char *r1 = reply_json("I think " EVIL " so \xe2\x80\xae"
                          "evil",
                          "name" EVIL, "#error " EVIL "\n");
    char *r2 = reply_json("Plain.", "plain_ce",
                          "#include <math.h>\n" CLS_SIG "{\n" CE_BODY
                          "        loss[i] *= 1.5;\n    }\n}\n");
    fake_llm_push_content(srv, r1, 10, 10);
    fake_llm_push_content(srv, r2, 10, 10);
    free(r1);
    free(r2);
    char db[300];
    snprintf(db, sizeof db, "%s/escapes.db", tmpdir);
    /* A campaign name that is not UTF-8, for the --json listings. */
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--task",
                    "fashion",
                    "--proposer",
                    "llm",
                    "--api-base",
                    (char *)fake_llm_base_url(srv),
                    "--model",
                    "m",
                    "--generations",
                    "2",
                    "--baselines",
                    "cross_entropy",
                    "--archive",
                    db,
                    "--campaign",
                    "camp\xff\xfe",
                    "--retries",
                    "0",
                    TASK_FLAGS,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 240, &out, &err);
    CHECK_MSG(rc == 0, "run exited %d", rc);
    CHECK_MSG(!has_terminal_control(out) && !has_terminal_control(err),
              "run printed control characters");
    /* The progress line quotes the compiler's message, the #error text escaped. (Names
     * from an LLM are normalised to identifiers before anything prints them.) */
    CHECK_MSG(err && strstr(err, "#error \\x1b]0;pwned"), "run's stderr: %s", err ? err : "");
    free(out);
    free(err);
    /* show (thought, name, code, message, the LLM exchange), ls and campaigns, as text and
     * as JSON. */
    const char *cmds[][6] = {
        {"show", "2", "--full", NULL}, {"show", "2", "--json", NULL}, {"ls", NULL},
        {"ls", "--json", NULL},        {"campaigns", NULL},           {"campaigns", "--json", NULL},
        {"export", "2", NULL}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *a[10] = {(char *)discover_bin()};
        int k = 1;
        for (int j = 0; cmds[i][j]; j++)
            a[k++] = (char *)cmds[i][j];
        a[k++] = "--archive";
        a[k++] = db;
        a[k] = NULL;
        rc = run_child(a, NULL, 60, &out, &err);
        int json = k > 4 && !strcmp(a[k - 3], "--json");
        CHECK_MSG(rc == 0, "%s %s: exit %d: %s", cmds[i][0], cmds[i][1] ? cmds[i][1] : "", rc,
                  err ? err : "");
        /* export writes the file as archived: only a terminal gets it escaped */
        if (strcmp(cmds[i][0], "export") != 0)
            CHECK_MSG(!has_terminal_control(out) && !has_terminal_control(err),
                      "%s %s printed control characters", cmds[i][0], cmds[i][1] ? cmds[i][1] : "");
        CHECK_MSG(!has_terminal_control(err), "%s: stderr", cmds[i][0]);
        if (i == 0) /* the thought, shown with its escapes visible */
            CHECK_MSG(out && strstr(out, "I think \\x1b]0;pwned") && strstr(out, "\\u202e"),
                      "show: %s", out ? out : "");
        if (json) {
            CHECK_MSG(out && utf8_valid(out), "%s --json: not valid UTF-8", cmds[i][0]);
            cJSON *o = cJSON_Parse(out ? out : "");
            CHECK_MSG(o != NULL, "%s --json: not JSON", cmds[i][0]);
            cJSON_Delete(o);
        }
        free(out);
        free(err);
    }
    fake_llm_stop(srv);
}

/* ---------------------------------------------------------------- bounds */

static void test_big_reply(void)
{
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    /* 10 MB of code in an otherwise well-formed reply, then an ordinary one. */
    size_t big = 10u << 20;
    dc_sb code = {0};
    dc_sb_append(&code, "#include <math.h>\n" CLS_SIG "{\n" CE_BODY "    }\n}\n");
    while (code.len < big)
        dc_sb_append(&code, "/* padding padding padding padding padding */\n");
    char *r1 = reply_json("Big.", "huge", code.data);
    dc_sb_free(&code);
    char *r2 = reply_json("Small.", "small",
                          "#include <math.h>\n" CLS_SIG "{\n" CE_BODY
                          "        loss[i] *= 2.0;\n    }\n}\n");
    fake_llm_push_content(srv, r1, 10, 10);
    fake_llm_push_content(srv, r2, 10, 10);
    free(r1);
    free(r2);
    char db[300];
    snprintf(db, sizeof db, "%s/big.db", tmpdir);
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--task",
                    "fashion",
                    "--proposer",
                    "llm",
                    "--api-base",
                    (char *)fake_llm_base_url(srv),
                    "--model",
                    "m",
                    "--generations",
                    "2",
                    "--baselines",
                    "cross_entropy",
                    "--archive",
                    db,
                    "--campaign",
                    "b",
                    "--retries",
                    "0",
                    TASK_FLAGS,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 240, &out, &err);
    CHECK_MSG(rc == 0, "run exited %d: %s", rc, err ? err : "");
    CHECK(fake_llm_request_count(srv) == 2);
    /* Archived cut, with its real size; the candidate not used, and told why. */
    long long stored =
        sql_int(db, "SELECT length(response_raw) FROM llm_calls ORDER BY id LIMIT 1");
    CHECK_MSG(stored > 0 && stored <= 512 * 1024, "the first reply is archived with %lld bytes",
              stored);
    long long bytes = sql_int(db, "SELECT response_bytes FROM llm_calls ORDER BY id LIMIT 1");
    CHECK_MSG(bytes >= (long long)big, "response_bytes %lld", bytes);
    cand_row c;
    CHECK(cand_by_name(db, "unparsed_gen1", &c));
    CHECK_MSG(!strcmp(c.status, "parse_error") && strstr(c.message, "512 KiB"), "%s: %s", c.status,
              c.message);
    CHECK(cand_by_name(db, "small", &c) && !strcmp(c.status, "ok"));
    /* Not resent: the second request is small, and its feedback says what happened. */
    const char *body = fake_llm_request_body(srv, 1);
    CHECK_MSG(body && strlen(body) < (1u << 20), "the second request is %zu bytes",
              body ? strlen(body) : 0);
    CHECK(body && strstr(body, "was not used"));
    struct stat sb;
    CHECK(stat(db, &sb) == 0 && sb.st_size < (4 << 20));
    free(out);
    free(err);
    fake_llm_stop(srv);

    /* One source limit for check and eval, named in both messages. */
    char f[300];
    snprintf(f, sizeof f, "%s/library.c", tmpdir);
    dc_sb lib = {0};
    dc_sb_append(&lib, "#include <math.h>\n" CLS_SIG "{\n" CE_BODY "    }\n}\n");
    while (lib.len < 300 * 1024)
        dc_sb_append(&lib, "/* more */\n");
    write_file(f, lib.data);
    dc_sb_free(&lib);
    const char *cmd[] = {"check", "eval"};
    for (int i = 0; i < 2; i++) {
        char *a[] = {(char *)discover_bin(), (char *)cmd[i], f, "--task", "fashion", NULL};
        rc = run_child(a, NULL, 60, &out, &err);
        CHECK_MSG(rc != 0 && err && strstr(err, "at most 262144 bytes (256 KiB)"), "%s: %d %s",
                  cmd[i], rc, err ? err : "");
        free(out);
        free(err);
    }
}

/* An archive whose candidates pages are overwritten: the campaign stops with how to
 * recover, not with "nothing archived was lost, --resume continues it". */
static void test_damaged_archive(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/damaged.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task",    "fashion",
                    "--generations",        "1",   "--archive", db,
                    "--campaign",           "x",   TASK_FLAGS,  NULL};
    int rc = run_child(argv, NULL, 120, NULL, NULL);
    CHECK(rc == 0);
    long long page = sql_int(db, "PRAGMA page_size");
    long long root = sql_int(db, "SELECT rootpage FROM sqlite_master WHERE name = 'candidates'");
    CHECK(page > 0 && root > 1);
    int fd = open(db, O_WRONLY);
    CHECK(fd >= 0);
    if (fd >= 0) {
        char *junk = dc_malloc((size_t)page);
        memset(junk, 0xa5, (size_t)page);
        CHECK(pwrite(fd, junk, (size_t)page, (off_t)((root - 1) * page)) == (ssize_t)page);
        free(junk);
        close(fd);
    }
    char *argr[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "x", "--resume",
                    "--generations",        "2",   NULL};
    char *out = NULL, *err = NULL;
    rc = run_child(argr, NULL, 120, &out, &err);
    CHECK_MSG(rc != 0 && err && strstr(err, "is damaged") && strstr(err, ".recover") &&
                  !strstr(err, "nothing archived was lost"),
              "exit %d: %s", rc, err ? err : "");
    free(out);
    free(err);
}

/* ---------------------------------------------------------------- one campaign, one process */

/* Starts argv with stderr into the file errpath. */
static pid_t spawn_logged(char *const argv[], const char *errpath)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 2);
        if (null >= 0) dup2(null, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *slurp(const char *path)
{
    char e[256];
    char *s = dc_read_file(path, 0, NULL, e, sizeof e);
    return s ? s : dc_strdup("");
}

static void test_two_at_once(void)
{
    for (int round = 0; round < 3; round++) {
        char db[300], e1[300], e2[300];
        snprintf(db, sizeof db, "%s/race%d.db", tmpdir, round);
        snprintf(e1, sizeof e1, "%s/race%d-1.err", tmpdir, round);
        snprintf(e2, sizeof e2, "%s/race%d-2.err", tmpdir, round);
        /* Same campaign: one runs it, the other is told it exists. */
        char *argv[] = {(char *)discover_bin(), "run",  "--task",    "fashion",
                        "--generations",        "1",    "--archive", db,
                        "--campaign",           "same", TASK_FLAGS,  NULL};
        pid_t a = spawn_logged(argv, e1), b = spawn_logged(argv, e2);
        int ra = wait_exit(a), rb = wait_exit(b);
        char *sa = slurp(e1), *sb = slurp(e2);
        CHECK_MSG((ra == 0) + (rb == 0) == 1, "round %d: exits %d and %d:\n%s\n%s", round, ra, rb,
                  sa, sb);
        const char *loser = ra == 0 ? sb : sa;
        CHECK_MSG(strstr(loser, "already exists") || strstr(loser, "is being run by process"),
                  "round %d: %s", round, loser);
        CHECK_MSG(!strstr(sa, "table campaigns already exists") &&
                      !strstr(sb, "table campaigns already exists"),
                  "round %d: the schema step ran twice", round);
        CHECK(sql_int(db, "SELECT count(*) FROM candidates") == 5); /* 4 seeds + 1 */
        free(sa);
        free(sb);
        /* Two campaigns on one new archive: both run. */
        snprintf(db, sizeof db, "%s/race%d-two.db", tmpdir, round);
        char *argx[] = {(char *)discover_bin(), "run", "--task",    "fashion",
                        "--generations",        "1",   "--archive", db,
                        "--campaign",           "x",   TASK_FLAGS,  NULL};
        char *argy[] = {(char *)discover_bin(), "run", "--task",    "fashion",
                        "--generations",        "1",   "--archive", db,
                        "--campaign",           "y",   TASK_FLAGS,  NULL};
        a = spawn_logged(argx, e1);
        b = spawn_logged(argy, e2);
        ra = wait_exit(a);
        rb = wait_exit(b);
        sa = slurp(e1);
        sb = slurp(e2);
        CHECK_MSG(ra == 0 && rb == 0, "round %d, two campaigns: exits %d and %d:\n%s\n%s", round,
                  ra, rb, sa, sb);
        free(sa);
        free(sb);
    }
}

static int count_final(const char *db)
{
    return (int)sql_int(db, "SELECT count(*) FROM candidates WHERE status != 'pending'");
}

static void test_second_resume(void)
{
    char db[300], e1[300];
    snprintf(db, sizeof db, "%s/lease.db", tmpdir);
    snprintf(e1, sizeof e1, "%s/lease-1.err", tmpdir);
    const int gens = 6;
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--task",
                    "fashion",
                    "--proposer",
                    "evolve",
                    "--generations",
                    "6",
                    "--archive",
                    db,
                    "--campaign",
                    "l",
                    "--seed",
                    "3",
                    TASK_FLAGS,
                    "--set",
                    "steps=300",
                    NULL};
    pid_t a = spawn_logged(argv, e1);
    double t0 = dc_now();
    while (dc_now() - t0 < 120 && !(access(db, F_OK) == 0 && count_final(db) >= 2))
        usleep(50000);
    CHECK_MSG(count_final(db) >= 2 && count_final(db) < 4 + gens, "the first run is not midway");
    /* A second --resume while the first runs: refused, naming the first. */
    char *argr[] = {(char *)discover_bin(), "run", "--archive", db,
                    "--campaign",           "l",   "--resume",  NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argr, NULL, 120, &out, &err);
    char who[64];
    snprintf(who, sizeof who, "is being run by process %d", (int)a);
    CHECK_MSG(rc == 1 && err && strstr(err, who), "second --resume: exit %d: %s", rc,
              err ? err : "");
    free(out);
    free(err);
    int ra = wait_exit(a);
    char *sa = slurp(e1);
    CHECK_MSG(ra == 0, "the first run exited %d: %s", ra, sa);
    free(sa);
    /* Exactly the generations asked for, each once. */
    CHECK_MSG(sql_int(db, "SELECT count(*) FROM candidates") == 4 + gens, "%lld candidates",
              sql_int(db, "SELECT count(*) FROM candidates"));
    CHECK(sql_int(db, "SELECT count(*) FROM (SELECT generation FROM candidates WHERE generation "
                      "> 0 GROUP BY generation HAVING count(*) > 1)") == 0);
    CHECK(sql_int(db, "SELECT count(*) FROM campaign_leases") == 0); /* released at the end */

    /* A dead owner: SIGKILLed midway; the next --resume takes its lease over, and says so. */
    char *argv2[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "l", "--resume",
                     "--generations",        "9",   NULL};
    a = spawn_logged(argv2, e1);
    t0 = dc_now();
    while (dc_now() - t0 < 120 && count_final(db) < 4 + gens + 1)
        usleep(50000);
    kill(a, SIGKILL);
    wait_exit(a);
    rc = run_child(argv2, NULL, 240, &out, &err);
    char gone[96];
    snprintf(gone, sizeof gone, "process %d on", (int)a);
    CHECK_MSG(rc == 0 && err && strstr(err, "took over the lease") && strstr(err, gone) &&
                  strstr(err, "no longer exists"),
              "resume after SIGKILL: exit %d: %s", rc, err ? err : "");
    free(out);
    free(err);
    CHECK(sql_int(db, "SELECT count(*) FROM candidates") == 4 + 9);

    /* Another host's lease: refused while its heartbeat is fresh, taken when it is stale. */
    CHECK(sql_exec(db, "INSERT INTO campaign_leases (campaign_id, pid, host, started_at, "
                       "heartbeat_at) VALUES (1, 77, 'other.example', '2020-01-01T00:00:00Z', "
                       "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))") == 0);
    char *argv3[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "l", "--resume",
                     "--generations",        "10",  NULL};
    rc = run_child(argv3, NULL, 120, &out, &err);
    CHECK_MSG(rc == 1 && err && strstr(err, "process 77 on other.example"), "exit %d: %s", rc,
              err ? err : "");
    free(out);
    free(err);
    CHECK(sql_exec(db, "UPDATE campaign_leases SET heartbeat_at = '2020-01-01T00:00:00Z'") == 0);
    rc = run_child(argv3, NULL, 240, &out, &err);
    CHECK_MSG(rc == 0 && err && strstr(err, "took over the lease") && strstr(err, "no heartbeat"),
              "exit %d: %s", rc, err ? err : "");
    free(out);
    free(err);
    CHECK(sql_int(db, "SELECT count(*) FROM candidates") == 4 + 10);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-hardening-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    test_dedup();
    test_check_escapes();
    test_campaign_escapes();
    test_big_reply();
    test_damaged_archive();
    test_two_at_once();
    test_second_resume();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
