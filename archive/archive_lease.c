/* archive_lease.c — one campaign, one process: the lease a running campaign holds in the
 * archive (see archive.h), and the thread that keeps its heartbeat fresh.
 *
 * Without it a second `run --resume` of a running campaign re-ran the first process's
 * candidate in flight, and both then added generations. The lease names its owner so the
 * refusal can say who runs the campaign; the owner's liveness is judged the only ways a
 * later process can: a pid on the same host that no longer exists, or a heartbeat that
 * stopped (any host, and a pid reused by an unrelated process). Times are SQLite's
 * 'now' (UTC) on both sides, so the age is computed with one clock per host. */
#define _GNU_SOURCE
#include "archive_internal.h"

#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOW_ISO "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"

static void my_identity(long long *pid, char *host, size_t cap)
{
    *pid = (long long)getpid();
    if (gethostname(host, cap) != 0 || !host[0]) dc_fmt(host, cap, "unknown-host");
    host[cap - 1] = '\0'; /* gethostname need not terminate a cut name */
}

static int is_me(const arc_lease *l)
{
    long long pid;
    char host[256];
    my_identity(&pid, host, sizeof host);
    return l->pid == pid && strcmp(l->host, host) == 0;
}

/* On this host: does a process with this pid exist? (EPERM: it does, owned by another
 * user.) */
static int pid_alive(long long pid)
{
    if (pid <= 0) return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int archive_lease_get(archive *a, int64_t campaign_id, arc_lease *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "SELECT pid, host, started_at, heartbeat_at, "
                    "(julianday('now') - julianday(heartbeat_at)) * 86400.0 "
                    "FROM campaign_leases WHERE campaign_id = ?1",
                    &st, err, errcap))
        return -1;
    int b = sqlite3_bind_int64(st, 1, campaign_id);
    int rc = b ? b : sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->pid = sqlite3_column_int64(st, 0);
        const unsigned char *h = sqlite3_column_text(st, 1);
        dc_fmt(out->host, sizeof out->host, "%s", h ? (const char *)h : "");
        const unsigned char *s = sqlite3_column_text(st, 2);
        dc_fmt(out->started_at, sizeof out->started_at, "%s", s ? (const char *)s : "");
        const unsigned char *hb = sqlite3_column_text(st, 3);
        dc_fmt(out->heartbeat_at, sizeof out->heartbeat_at, "%s", hb ? (const char *)hb : "");
        /* An unreadable time counts as infinitely old: such a lease cannot block forever. */
        out->age_s =
            sqlite3_column_type(st, 4) == SQLITE_NULL ? 1e18 : sqlite3_column_double(st, 4);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return 1;
    return arc_fail(a, rc, "cannot read the campaign's lease", err, errcap);
}

int archive_lease_acquire(archive *a, int64_t campaign_id, arc_lease *prev, int *took_over,
                          char *why, size_t whycap, char *err, size_t errcap)
{
    memset(prev, 0, sizeof *prev);
    *took_over = 0;
    if (whycap) why[0] = '\0';
    if (arc_require_writable(a, "cannot take the campaign's lease", err, errcap)) return -1;
    /* Read and write in one IMMEDIATE transaction: two processes starting at once cannot
     * both find the lease free. */
    if (arc_begin(a, err, errcap)) return -1;
    arc_lease cur;
    int r = archive_lease_get(a, campaign_id, &cur, err, errcap);
    if (r < 0) {
        arc_rollback(a);
        return -1;
    }
    long long pid;
    char host[256];
    my_identity(&pid, host, sizeof host);
    if (r == 0 && !is_me(&cur)) {
        *prev = cur;
        if (strcmp(cur.host, host) == 0 && !pid_alive(cur.pid)) {
            dc_fmt(why, whycap, "process %lld on %s no longer exists", cur.pid, cur.host);
        } else if (cur.age_s > ARCHIVE_LEASE_STALE_S) {
            dc_fmt(why, whycap, "process %lld on %s sent no heartbeat for %.0f s (more than %d s)",
                   cur.pid, cur.host, cur.age_s, ARCHIVE_LEASE_STALE_S);
        } else {
            arc_rollback(a);
            return 1;
        }
        *took_over = 1;
    }
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "INSERT OR REPLACE INTO campaign_leases (campaign_id, pid, host, started_at, "
                    "heartbeat_at) VALUES (?1, ?2, ?3, " NOW_ISO ", " NOW_ISO ")",
                    &st, err, errcap)) {
        arc_rollback(a);
        return -1;
    }
    int b = sqlite3_bind_int64(st, 1, campaign_id);
    b |= sqlite3_bind_int64(st, 2, pid);
    b |= arc_bind_text(st, 3, host);
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
            dc_fmt(err, errcap, "cannot take the lease: no campaign %lld in archive %s",
                   (long long)campaign_id, a->path);
        else
            arc_fail(a, rc, "cannot take the campaign's lease", err, errcap);
        arc_rollback(a);
        return -1;
    }
    return arc_commit(a, err, errcap);
}

int archive_lease_heartbeat(archive *a, int64_t campaign_id, arc_lease *now, char *err,
                            size_t errcap)
{
    if (now) memset(now, 0, sizeof *now);
    long long pid;
    char host[256];
    my_identity(&pid, host, sizeof host);
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "UPDATE campaign_leases SET heartbeat_at = " NOW_ISO
                    " WHERE campaign_id = ?1 AND pid = ?2 AND host = ?3",
                    &st, err, errcap))
        return -1;
    int b = sqlite3_bind_int64(st, 1, campaign_id);
    b |= sqlite3_bind_int64(st, 2, pid);
    b |= arc_bind_text(st, 3, host);
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return arc_fail(a, rc, "cannot refresh the campaign's lease", err, errcap);
    if (sqlite3_changes(a->db) == 1) return 0;
    arc_lease other;
    if (archive_lease_get(a, campaign_id, &other, err, errcap) < 0) return -1;
    if (now) *now = other; /* all zero when nobody holds it */
    return 1;
}

int archive_lease_release(archive *a, int64_t campaign_id, char *err, size_t errcap)
{
    long long pid;
    char host[256];
    my_identity(&pid, host, sizeof host);
    sqlite3_stmt *st;
    if (arc_prepare(a,
                    "DELETE FROM campaign_leases WHERE campaign_id = ?1 AND pid = ?2 AND host = ?3",
                    &st, err, errcap))
        return -1;
    int b = sqlite3_bind_int64(st, 1, campaign_id);
    b |= sqlite3_bind_int64(st, 2, pid);
    b |= arc_bind_text(st, 3, host);
    int rc = b ? b : sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0
                             : arc_fail(a, rc, "cannot release the campaign's lease", err, errcap);
}

/* ---------------------------------------------------------------- heartbeat thread */

struct arc_keepalive {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, lost;
    arc_lease owner; /* who holds the lease once lost */
    archive *a;      /* the thread's own connection */
    int64_t campaign_id;
};

static void *keepalive_main(void *arg)
{
    arc_keepalive *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += ARCHIVE_LEASE_HEARTBEAT_S;
        while (!k->stop && pthread_cond_timedwait(&k->cv, &k->mu, &until) != ETIMEDOUT) {
        }
        if (k->stop) break;
        pthread_mutex_unlock(&k->mu);
        char err[512];
        arc_lease now;
        /* A failed refresh (the archive busy past the timeout) is retried at the next
         * beat; only a lease held by another process is final. */
        int r = archive_lease_heartbeat(k->a, k->campaign_id, &now, err, sizeof err);
        pthread_mutex_lock(&k->mu);
        if (r == 1) {
            k->lost = 1;
            k->owner = now;
            break;
        }
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

arc_keepalive *archive_lease_keepalive(const char *path, int64_t campaign_id, char *err,
                                       size_t errcap)
{
    arc_keepalive *k = dc_calloc(1, sizeof *k);
    k->campaign_id = campaign_id;
    if (archive_open(path, 0, &k->a, err, errcap) != 0) {
        free(k);
        return NULL;
    }
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc == 0) rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) rc = pthread_cond_init(&k->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc == 0 && (rc = pthread_mutex_init(&k->mu, NULL)) != 0) pthread_cond_destroy(&k->cv);
    if (rc != 0) {
        dc_fmt(err, errcap, "cannot start the lease heartbeat: %s", strerror(rc));
        archive_close(k->a);
        free(k);
        return NULL;
    }
    /* The thread blocks every signal (it inherits the mask): Ctrl-C must reach the main
     * thread, whose waits it interrupts. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&k->thread, NULL, keepalive_main, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        dc_fmt(err, errcap, "cannot start the lease heartbeat: %s", strerror(rc));
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->cv);
        archive_close(k->a);
        free(k);
        return NULL;
    }
    return k;
}

int archive_keepalive_lost(arc_keepalive *k, arc_lease *now)
{
    if (!k) return 0;
    pthread_mutex_lock(&k->mu);
    int lost = k->lost;
    if (lost && now) *now = k->owner;
    pthread_mutex_unlock(&k->mu);
    return lost;
}

void archive_keepalive_stop(arc_keepalive *k)
{
    if (!k) return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    archive_close(k->a);
    free(k);
}
