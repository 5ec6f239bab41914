/* proposals.h — LLM proposals in flight, each on its own thread (`--jobs N` with the llm
 * proposer, up to `--in-flight P` at once).
 *
 * Only the network part of a proposal runs on these threads (dc_proposer.send): the prompt
 * is built and the exchange archived on the campaign's thread, which stays the only one
 * that touches the archive and the terminal. A thread that finishes writes one byte to a
 * pipe, so the campaign can wait for it with poll() beside its evaluators. */
#ifndef DC_PROPOSALS_H
#define DC_PROPOSALS_H

#include "discover/propose/proposer.h"

typedef struct dc_inflight_slot dc_inflight_slot;

typedef struct {
    dc_proposer *proposer;
    int wake[2]; /* read end: dc_inflight_fd */
    dc_inflight_slot **slots; /* each a heap cell: its thread keeps the pointer */
    int n, cap;
} dc_inflight;

/* 0, or -1 with why (no pipe). */
int dc_inflight_init(dc_inflight *f, dc_proposer *proposer, char *err, size_t errcap);
/* Runs proposer->send(p) on a new thread; takes p over. 0, or -1 with why (p discarded). */
int dc_inflight_start(dc_inflight *f, dc_pending *p, char *err, size_t errcap);
int dc_inflight_count(const dc_inflight *f);
/* The file descriptor that becomes readable when a call is done. */
int dc_inflight_fd(const dc_inflight *f);
/* 1 when a call for generation gen is in flight or done and not taken. */
int dc_inflight_has(const dc_inflight *f, int gen);
/* The proposal of generation gen once its call is done (its thread joined; the caller
 * finishes it); NULL while it runs or when there is none. */
dc_pending *dc_inflight_take(dc_inflight *f, int gen);
/* The done proposal of the lowest generation, or, when wait is set, the lowest one after
 * waiting for its thread; NULL when none is left. For draining at the end. */
dc_pending *dc_inflight_take_any(dc_inflight *f, int wait);
/* Joins every thread left and discards their proposals; closes the pipe. */
void dc_inflight_close(dc_inflight *f);

#endif
