/* Archive concurrency and crash safety:
 *  - several processes opening a new archive (or upgrading an old one) at the same moment
 *    all succeed, and each schema step is applied once;
 *  - the lease heartbeat thread keeps a campaign's lease fresh and notices a take-over;
 *  - a reader during a writer's open transaction sees the last committed state, at once;
 *  - a second writer waits the busy timeout, then fails with the "locked" message;
 *  - a writer SIGKILLed mid-transaction leaves an archive that passes integrity_check and
 *    holds every candidate (with all its curve points) the writer had reported committed. */
#include "arc_test_util.h"
#include "archive/archive_schema.h"
#include "tests/test.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static char *dir;

static int count_candidates(archive *a)
{
    arc_candidate *l;
    int n;
    char err[512];
    arc_filter f = {0};
    if (archive_candidate_list(a, &f, &l, &n, err, sizeof err)) return -1;
    for (int i = 0; i < n; i++)
        arc_candidate_free(&l[i]);
    free(l);
    return n;
}

static void test_reader_during_writer(void)
{
    char *p = tu_path(dir, "rw.db"), err[512];
    archive *w;
    CHECK(archive_open(p, ARC_CREATE, &w, err, sizeof err) == 0);
    int64_t camp = tu_campaign(w, "c", "fashion");
    tu_candidate(w, camp, 0, "committed", "a", "ok", 0.5, 0.5);
    archive_close(w);

    /* The writer: a raw connection holding an open write transaction. */
    sqlite3 *raw;
    CHECK(sqlite3_open(p, &raw) == SQLITE_OK);
    CHECK(sqlite3_exec(raw,
                       "BEGIN IMMEDIATE; INSERT INTO candidates (campaign_id, generation, name, "
                       "code, code_hash, status, created_at) VALUES (1, 1, 'uncommitted', 'b', "
                       "'x', 'ok', 'now');",
                       NULL, NULL, NULL) == SQLITE_OK);
    archive *r;
    CHECK(archive_open(p, ARC_READONLY, &r, err, sizeof err) == 0);
    if (r) {
        double t0 = dc_now();
        CHECK(count_candidates(r) == 1);
        CHECK(dc_now() - t0 < 1.0); /* WAL: readers do not wait for writers */
        CHECK(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
        CHECK(count_candidates(r) == 2);
        archive_close(r);
    }
    sqlite3_close(raw);
    free(p);
}

static void test_locked(void)
{
    char *p = tu_path(dir, "locked.db"), err[1024];
    archive *w;
    CHECK(archive_open(p, ARC_CREATE, &w, err, sizeof err) == 0);
    int64_t camp = tu_campaign(w, "c", "fashion");
    sqlite3 *raw;
    CHECK(sqlite3_open(p, &raw) == SQLITE_OK);
    CHECK(sqlite3_exec(raw, "BEGIN IMMEDIATE; UPDATE campaigns SET model = 'x';", NULL, NULL,
                       NULL) == SQLITE_OK);
    archive_set_busy_timeout(w, 300);
    arc_candidate c = {0};
    c.campaign_id = camp;
    c.name = dc_strdup("blocked");
    c.code = dc_strdup("void objective(){}");
    c.status = dc_strdup("ok");
    dc_curves_add(&c.curves, "train_loss", 0, 1.0);
    double t0 = dc_now();
    CHECK(archive_candidate_insert(w, &c, err, sizeof err) == -1);
    double waited = dc_now() - t0;
    CHECK_MSG(strstr(err, "is locked: another discover process holds it") != NULL, "%s", err);
    CHECK(strstr(err, p) != NULL);
    CHECK(waited >= 0.25 && waited < 5.0);
    CHECK(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    /* Once the other writer is gone the same insert goes through. */
    CHECK(archive_candidate_insert(w, &c, err, sizeof err) == 0);
    arc_candidate_free(&c);
    archive_close(w);
    sqlite3_close(raw);

    /* The environment knob reaches archive_open (the CLI's only way to set it). */
    setenv("DISCOVER_ARCHIVE_BUSY_MS", "200", 1);
    CHECK(archive_open(p, 0, &w, err, sizeof err) == 0);
    unsetenv("DISCOVER_ARCHIVE_BUSY_MS");
    CHECK(sqlite3_open(p, &raw) == SQLITE_OK);
    CHECK(sqlite3_exec(raw, "BEGIN IMMEDIATE; UPDATE campaigns SET model = 'y';", NULL, NULL,
                       NULL) == SQLITE_OK);
    t0 = dc_now();
    CHECK(archive_campaign_set_status(w, camp, "failed", err, sizeof err) == -1);
    waited = dc_now() - t0;
    CHECK(waited >= 0.15 && waited < 2.0);
    CHECK(strstr(err, "waited 0.2 s") != NULL);
    sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(raw);
    archive_close(w);
    free(p);
}

enum { CURVE_POINTS = 4000 };

/* The child: inserts candidates with big curves forever, reporting each committed id. */
static void writer_child(const char *path, int fd)
{
    char err[512];
    archive *a;
    if (archive_open(path, ARC_CREATE, &a, err, sizeof err)) _exit(3);
    arc_campaign *cs;
    int n;
    if (archive_campaign_list(a, &cs, &n, err, sizeof err) || n != 1) _exit(4);
    int64_t camp = cs[0].id;
    arc_campaign_free(&cs[0]);
    free(cs);
    for (int k = 0;; k++) {
        arc_candidate c = {0};
        c.campaign_id = camp;
        c.generation = k;
        c.name = dc_strdup("loop");
        c.code = dc_strdup("void objective(){}");
        c.status = dc_strdup("ok");
        c.has_fitness = 1;
        c.fitness = k;
        for (int s = 0; s < CURVE_POINTS; s++) {
            dc_curves_add(&c.curves, "train_loss", s, 1.0 / (s + 1));
            dc_curves_add(&c.curves, "val_accuracy", s, s * 1e-4);
        }
        if (archive_candidate_insert(a, &c, err, sizeof err)) _exit(5);
        int64_t id = c.id;
        arc_candidate_free(&c);
        if (write(fd, &id, sizeof id) != (ssize_t)sizeof id) _exit(6);
    }
}

static void test_sigkill(void)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int total_reported = 0;
    for (int round = 0; round < 4; round++) {
        char name[32];
        char *p = tu_path(dir, dc_fmt(name, sizeof name, "kill%d.db", round)), err[512];
        archive *a;
        CHECK(archive_open(p, ARC_CREATE, &a, err, sizeof err) == 0);
        tu_campaign(a, "k", "fashion");
        archive_close(a);

        int fds[2];
        if (pipe(fds) != 0) return;
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            writer_child(p, fds[1]);
        }
        close(fds[1]);
        struct timespec ts = {0, (long)(30 + rand() % 250) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        static int64_t ids[100000];
        int nreported = 0;
        ssize_t got;
        while (nreported < 100000 &&
               (got = read(fds[0], &ids[nreported], sizeof ids[0])) == (ssize_t)sizeof ids[0])
            nreported++;
        close(fds[0]);
        total_reported += nreported;

        char *ok = tu_sql_text(p, "PRAGMA integrity_check");
        CHECK_STR(ok, "ok");
        free(ok);
        CHECK(archive_open(p, ARC_READONLY, &a, err, sizeof err) == 0);
        if (!a) continue;
        int present = count_candidates(a);
        /* Every reported commit is there; at most the one in flight beyond that. */
        CHECK_MSG(present >= nreported && present <= nreported + 1, "present %d, reported %d",
                  present, nreported);
        int complete = 1;
        for (int i = 0; i < nreported; i++) {
            arc_candidate c;
            if (archive_candidate_get(a, ids[i], &c, err, sizeof err) != 0) {
                complete = 0;
                continue;
            }
            const dc_curve *tl = dc_curves_find(&c.curves, "train_loss");
            const dc_curve *va = dc_curves_find(&c.curves, "val_accuracy");
            complete &= tl && va && tl->len == CURVE_POINTS && va->len == CURVE_POINTS;
            arc_candidate_free(&c);
        }
        CHECK(complete);
        /* No candidate without its curves: the in-flight one is all or nothing. */
        CHECK(tu_sql_int(p, "SELECT count(*) FROM candidates WHERE id NOT IN (SELECT owner_id "
                            "FROM curves WHERE owner_kind = 'candidate' GROUP BY owner_id "
                            "HAVING count(*) = 8000)") == 0);
        archive_close(a);
        free(p);
    }
    CHECK(total_reported > 0); /* the kills landed while the writer was writing */
}

enum { OPENERS = 6, ROUNDS = 6 };

/* One of the openers: waits at the barrier (a byte on fd), opens the archive with the
 * given history and target, then creates its own campaign. Exit 0 when both worked; on
 * failure the message goes to stderr and the exit status says which step failed. */
static void opener_child(const char *path, int fd, int who, const arc_migration *steps, int nsteps,
                         int target)
{
    char go, err[1024], name[32];
    if (read(fd, &go, 1) != 1) _exit(7);
    archive *a;
    if (archive_open_with(path, ARC_CREATE, steps, nsteps, target, &a, err, sizeof err)) {
        fprintf(stderr, "opener %d: %s\n", who, err);
        _exit(3);
    }
    arc_campaign c = {0};
    c.name = dc_fmt(name, sizeof name, "opener-%d", who);
    c.task = "fashion";
    c.proposer = "evolve";
    int rc = archive_campaign_create(a, &c, err, sizeof err);
    if (rc) fprintf(stderr, "opener %d: %s\n", who, err);
    free(c.created_at);
    free(c.updated_at);
    archive_close(a);
    _exit(rc ? 4 : 0);
}

/* Starts OPENERS processes that open path at once; returns how many succeeded. */
static int open_at_once(const char *path, const arc_migration *steps, int nsteps, int target)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pids[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(fds[1]);
            opener_child(path, fds[0], i, steps, nsteps, target);
        }
    }
    close(fds[0]);
    char go[OPENERS] = {0};
    if (write(fds[1], go, sizeof go) != (ssize_t)sizeof go) return -1;
    close(fds[1]);
    int ok = 0;
    for (int i = 0; i < OPENERS; i++) {
        int status;
        if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
            WEXITSTATUS(status) == 0)
            ok++;
    }
    return ok;
}

/* Seen before the fix: two `discover run`s on a new archive failed one time in three with
 * "table campaigns already exists", because the schema version was read before the write
 * transaction that applies the step. */
static void test_concurrent_open(void)
{
    for (int round = 0; round < ROUNDS; round++) {
        char name[32];
        char *p = tu_path(dir, dc_fmt(name, sizeof name, "race%d.db", round));
        int ok = open_at_once(p, arc_migrations, arc_migration_count, ARCHIVE_SCHEMA_VERSION);
        CHECK_MSG(ok == OPENERS, "round %d: %d of %d openers of a new archive succeeded", round, ok,
                  OPENERS);
        CHECK(tu_sql_int(p, "PRAGMA user_version") == ARCHIVE_SCHEMA_VERSION);
        CHECK(tu_sql_int(p, "SELECT count(*) FROM campaigns") == OPENERS);
        free(p);
    }
    /* An upgrade raced the same way: a test-only step that cannot run twice (a second
     * ADD COLUMN of the same name fails). */
    arc_migration future[16];
    int nf = 0;
    for (int i = 0; i < arc_migration_count && nf < 15; i++)
        future[nf++] = arc_migrations[i];
    future[nf++] = (arc_migration){ARCHIVE_SCHEMA_VERSION, "add candidates.tags (test only)",
                                   "ALTER TABLE candidates ADD COLUMN tags TEXT;"};
    for (int round = 0; round < ROUNDS; round++) {
        char name[32];
        char *p = tu_path(dir, dc_fmt(name, sizeof name, "upgrade%d.db", round)), err[512];
        archive *a;
        CHECK(archive_open(p, ARC_CREATE, &a, err, sizeof err) == 0);
        archive_close(a);
        int ok = open_at_once(p, future, nf, ARCHIVE_SCHEMA_VERSION + 1);
        CHECK_MSG(ok == OPENERS, "round %d: %d of %d upgraders succeeded", round, ok, OPENERS);
        CHECK(tu_sql_int(p, "PRAGMA user_version") == ARCHIVE_SCHEMA_VERSION + 1);
        CHECK(tu_sql_int(p, "SELECT count(*) FROM pragma_table_info('candidates') WHERE name = "
                            "'tags'") == 1);
        free(p);
    }
}

static double lease_age(archive *a)
{
    arc_lease l;
    char err[512];
    return archive_lease_get(a, 1, &l, err, sizeof err) == 0 ? l.age_s : -1;
}

/* Polls every 50 ms, up to limit seconds: 1 once the lease's heartbeat is fresh. */
static int wait_fresh(archive *a, double limit)
{
    for (double t0 = dc_now(); dc_now() - t0 < limit; usleep(50000))
        if (lease_age(a) >= 0 && lease_age(a) < 5) return 1;
    return 0;
}

/* The same for the keepalive noticing that the lease was taken over. */
static int wait_lost(arc_keepalive *k, arc_lease *owner, double limit)
{
    for (double t0 = dc_now(); dc_now() - t0 < limit; usleep(50000))
        if (archive_keepalive_lost(k, owner)) return 1;
    return 0;
}

static void test_keepalive(void)
{
    char *p = tu_path(dir, "keepalive.db"), err[512], why[256];
    archive *a;
    CHECK(archive_open(p, ARC_CREATE, &a, err, sizeof err) == 0);
    if (!a) return;
    int64_t camp = tu_campaign(a, "k", "fashion");
    arc_lease prev, owner;
    int took;
    CHECK(archive_lease_acquire(a, camp, &prev, &took, why, sizeof why, err, sizeof err) == 0);
    CHECK(tu_sql(p, "UPDATE campaign_leases SET heartbeat_at = '2000-01-01T00:00:00Z'") == 0);
    CHECK(lease_age(a) > ARCHIVE_LEASE_STALE_S);
    arc_keepalive *k = archive_lease_keepalive(p, camp, err, sizeof err);
    CHECK_MSG(k != NULL, "%s", err);
    /* Within one beat (and some slack for a loaded machine) the heartbeat is fresh. */
    CHECK(wait_fresh(a, ARCHIVE_LEASE_HEARTBEAT_S + 5));
    CHECK(!archive_keepalive_lost(k, &owner));
    /* Another process takes the lease over: the next beat notices and names it. */
    CHECK(tu_sql(p, "UPDATE campaign_leases SET pid = 4242, host = 'elsewhere'") == 0);
    CHECK(wait_lost(k, &owner, ARCHIVE_LEASE_HEARTBEAT_S + 5));
    CHECK(owner.pid == 4242 && !strcmp(owner.host, "elsewhere"));
    double t0 = dc_now();
    archive_keepalive_stop(k); /* prompt: the thread waits on a condition, not a sleep */
    CHECK(dc_now() - t0 < 1.0);
    archive_close(a);
    free(p);
}

int main(void)
{
    dir = tu_tmpdir();
    test_concurrent_open();
    test_keepalive();
    test_reader_during_writer();
    test_locked();
    test_sigkill();
    tu_rmdir(dir);
    free(dir);
    return TEST_REPORT();
}
