/* proposals.c — LLM proposals on their own threads (proposals.h). */
#define _GNU_SOURCE
#include "proposals.h"

#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dc_inflight_slot {
    dc_pending *p;
    int gen;
    pthread_t th;
    atomic_int done; /* set by the thread after send returned */
    int wake_fd;     /* the pipe's write end, for the thread */
    dc_proposer *proposer;
};

int dc_inflight_init(dc_inflight *f, dc_proposer *proposer, char *err, size_t errcap)
{
    memset(f, 0, sizeof *f);
    f->proposer = proposer;
    if (pipe2(f->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        dc_fmt(err, errcap, "cannot create a pipe for the LLM calls in flight: %s", strerror(errno));
        f->wake[0] = f->wake[1] = -1;
        return -1;
    }
    return 0;
}

static void *call_thread(void *arg)
{
    dc_inflight_slot *s = arg;
    s->proposer->send(s->p);
    atomic_store(&s->done, 1);
    /* A full pipe already wakes the campaign; a lost byte is harmless. */
    ssize_t w = write(s->wake_fd, "x", 1);
    (void)w;
    return NULL;
}

int dc_inflight_start(dc_inflight *f, dc_pending *p, char *err, size_t errcap)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 8;
        f->slots = dc_realloc(f->slots, (size_t)f->cap * sizeof *f->slots);
    }
    dc_inflight_slot *s = dc_calloc(1, sizeof *s);
    s->p = p;
    s->gen = dc_pending_generation(p);
    s->wake_fd = f->wake[1];
    s->proposer = f->proposer;
    atomic_init(&s->done, 0);
    /* Ctrl-C and the campaign's other signals go to the campaign's thread, whose poll()
     * then returns at once; the calls see the stop through llm_config.cancel. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->th, NULL, call_thread, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        dc_fmt(err, errcap, "cannot start a thread for an LLM call: %s", strerror(rc));
        f->proposer->discard(p);
        free(s);
        return -1;
    }
    f->slots[f->n++] = s;
    return 0;
}

int dc_inflight_count(const dc_inflight *f)
{
    return f->n;
}

int dc_inflight_fd(const dc_inflight *f)
{
    return f->wake[0];
}

int dc_inflight_has(const dc_inflight *f, int gen)
{
    for (int i = 0; i < f->n; i++)
        if (f->slots[i]->gen == gen) return 1;
    return 0;
}

/* Removes slot i after joining its thread; returns its proposal. */
static dc_pending *take_slot(dc_inflight *f, int i)
{
    dc_inflight_slot *s = f->slots[i];
    pthread_join(s->th, NULL);
    dc_pending *p = s->p;
    free(s);
    memmove(f->slots + i, f->slots + i + 1, (size_t)(f->n - i - 1) * sizeof *f->slots);
    f->n--;
    return p;
}

dc_pending *dc_inflight_take(dc_inflight *f, int gen)
{
    for (int i = 0; i < f->n; i++)
        if (f->slots[i]->gen == gen && atomic_load(&f->slots[i]->done)) return take_slot(f, i);
    return NULL;
}

dc_pending *dc_inflight_take_any(dc_inflight *f, int wait)
{
    int best = -1;
    for (int i = 0; i < f->n; i++) {
        if (!wait && !atomic_load(&f->slots[i]->done)) continue;
        if (best < 0 || f->slots[i]->gen < f->slots[best]->gen) best = i;
    }
    return best < 0 ? NULL : take_slot(f, best);
}

void dc_inflight_close(dc_inflight *f)
{
    while (f->n > 0) {
        dc_pending *p = take_slot(f, 0);
        f->proposer->discard(p);
    }
    free(f->slots);
    f->slots = NULL;
    f->cap = 0;
    for (int k = 0; k < 2; k++)
        if (f->wake[k] >= 0) close(f->wake[k]);
    f->wake[0] = f->wake[1] = -1;
}
