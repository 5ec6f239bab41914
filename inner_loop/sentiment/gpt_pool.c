/* gpt_pool.c — a small fixed pool of worker threads for gpt_pool_run (gpt_pool.h).
 *
 * Pieces are claimed one at a time under the mutex: they are coarse (a half batch's forward
 * pass, a group of sampled sequences: a millisecond or more), so the lock costs nothing
 * measurable and a worker that wakes late can never mix two jobs up. Idle workers sleep on
 * a condition variable rather than spin: the machines this runs on are shared. */
#define _POSIX_C_SOURCE 200809L
#include "gpt_pool.h"

#include <fenv.h>
#include <pthread.h>
#include <unistd.h>

#define POOL_MAX 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER, done_cv = PTHREAD_COND_INITIALIZER;
static int wanted = 1;  /* threads, the caller's included */
static int started;     /* workers running (they never exit) */
static int atfork_set;
static int busy; /* a job is running: another caller's runs inline (one job at a time) */
static struct {
    unsigned long gen; /* bumped per job: a worker joins each job once */
    void (*fn)(void *, int);
    void *ctx;
    int n, next, done;
    int helpers; /* workers that may join (wanted - 1 at the job's start) */
    fenv_t env;
} job;
static _Thread_local int in_piece; /* nested runs go inline */

void gpt_pool_set_threads(int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (n > POOL_MAX) n = POOL_MAX;
    pthread_mutex_lock(&mu);
    wanted = n;
    pthread_mutex_unlock(&mu);
}

int gpt_pool_threads(void)
{
    pthread_mutex_lock(&mu);
    int n = wanted;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Claims and runs pieces of the current job while there are any; called with mu held,
 * returns with it held. */
static void work_on(unsigned long gen)
{
    while (job.gen == gen && job.next < job.n) {
        int i = job.next++;
        void (*fn)(void *, int) = job.fn;
        void *ctx = job.ctx;
        pthread_mutex_unlock(&mu);
        in_piece = 1;
        fn(ctx, i);
        in_piece = 0;
        pthread_mutex_lock(&mu);
        if (++job.done == job.n) pthread_cond_broadcast(&done_cv);
    }
}

static void *worker(void *arg)
{
    int id = (int)(long)arg; /* 1 .. POOL_MAX-1 */
    unsigned long seen = 0;
    pthread_mutex_lock(&mu);
    seen = job.gen;
    for (;;) {
        while (job.gen == seen) pthread_cond_wait(&work_cv, &mu);
        seen = job.gen;
        if (id > job.helpers) continue;
        fenv_t env = job.env;
        pthread_mutex_unlock(&mu);
        fesetenv(&env); // the caller's FTZ/DAZ and rounding: the same bits on every thread
        pthread_mutex_lock(&mu);
        work_on(seen);
    }
    return NULL;
}

/* In a forked child only the forking thread exists: start the pool afresh there. */
static void after_fork_child(void)
{
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&work_cv, NULL);
    pthread_cond_init(&done_cv, NULL);
    started = 0;
    busy = 0;
    job.n = job.next = job.done = 0;
}

/* Starts workers up to `want - 1` (mu held); fewer when the system refuses threads. */
static void start_workers(int want)
{
    if (!atfork_set) {
        atfork_set = 1;
        pthread_atfork(NULL, NULL, after_fork_child);
    }
    while (started < want - 1) {
        pthread_t th;
        pthread_attr_t at;
        if (pthread_attr_init(&at) != 0) return;
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&th, &at, worker, (void *)(long)(started + 1));
        pthread_attr_destroy(&at);
        if (rc != 0) return;
        started++;
    }
}

void gpt_pool_run(int n, void (*fn)(void *ctx, int i), void *ctx)
{
    if (n <= 0) return;
    pthread_mutex_lock(&mu);
    int threads = wanted;
    if (n == 1 || threads <= 1 || in_piece || busy) {
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    start_workers(threads);
    busy = 1;
    job.gen++;
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.next = job.done = 0;
    job.helpers = (started < threads - 1 ? started : threads - 1);
    if (job.helpers > n - 1) job.helpers = n - 1;
    fegetenv(&job.env);
    unsigned long gen = job.gen;
    pthread_cond_broadcast(&work_cv);
    work_on(gen);
    while (job.done < job.n) pthread_cond_wait(&done_cv, &mu);
    busy = 0;
    pthread_mutex_unlock(&mu);
}
