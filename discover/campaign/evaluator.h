/* evaluator.h — evaluator processes for a campaign with jobs > 1 (or under MPI).
 *
 * Each evaluator is the discover binary re-executed as `discover __evaluator IN OUT`
 * (fork + exec, never a bare fork: CUDA cannot be used in a forked child). It owns its task
 * and its sandbox workers; the campaign process stays the only archive writer, and the
 * evaluator never opens the archive: every request carries what the evaluation reads, so
 * the same messages work for an evaluator on another machine (an MPI rank, mpi_pool.h).
 * Messages are JSON objects, each framed by its byte length (uint32, this machine's order):
 *
 *   campaign → evaluator   {"settings": [...], "campaign_id", "threads", "threads_auto",
 *                           "horizon"}                                         once
 *   evaluator → campaign   {"ready": true} | {"error": "why"}
 *   campaign → evaluator   the pending row: {"id", "name", "code", "code_hash", "generation",
 *                           "budget", "same_code": ORIG | null, + the result fields}
 *   evaluator → campaign   {"same_behaviour": FP, "id"}  after screening: is there an
 *   campaign → evaluator   {"orig": ORIG | null}       earlier candidate with its behaviour?
 *   evaluator → campaign   {"progress": {"id", "phase", "step", "steps"}}   while training,
 *                          any number (none is required), each before the answer
 *   evaluator → campaign   {"id", "status", "message", ... the finished fields}
 *
 * ORIG is the earlier candidate a duplicate may copy (id, name, code, has_fitness, fitness,
 * test_metric, metrics_json), already checked by the campaign to be visible to it.
 *
 * An evaluator dies with the campaign (PR_SET_PDEATHSIG) and its sandbox workers with it. */
#ifndef DC_EVALUATOR_H
#define DC_EVALUATOR_H

#include "archive/archive.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes one framed message; 0, or -1 (the peer is gone). */
int dc_msg_write(int fd, const cJSON *msg);
/* Reads one framed message (at most 64 MiB); NULL at end of file or on a broken frame, with
 * why in err. */
cJSON *dc_msg_read(int fd, char *err, size_t errcap);

/* The fields an evaluation finishes (status, message, fingerprint, duplicate_of, fitness,
 * test metric, metrics, curves, seconds) as a message, and back onto a candidate. Numbers
 * round-trip exactly (cJSON prints 17 significant digits when 15 do not); NaN travels as
 * null. */
cJSON *dc_result_to_json(const arc_candidate *c);
int dc_result_from_json(const cJSON *msg, arc_candidate *c, char *err, size_t errcap);

/* A progress report: the training step an evaluator has reached on candidate id. */
typedef struct {
    int64_t id;
    char phase[24]; /* "train", "score", ... (the task's, cut to fit) */
    int step, steps;
} dc_progress_msg;
cJSON *dc_progress_to_json(const dc_progress_msg *m);
/* 1 when msg is a progress report (fields filled, missing ones 0 / ""), 0 when it is
 * something else (an answer). */
int dc_progress_from_json(const cJSON *msg, dc_progress_msg *m);

/* The evaluator's side: relays the training progress of candidate id to fd, at most one
 * message every DC_PROGRESS_EVERY_S, and never at the cost of training: a report is
 * dropped when the pipe lacks room for it (the campaign is busy, say in an LLM call). */
#define DC_PROGRESS_EVERY_S 0.5
typedef struct {
    int fd;
    int64_t id;  /* the candidate in training; 0: relay nothing */
    double last; /* dc_now of the last report sent; 0: none yet for this candidate */
} dc_progress_relay;
/* The dc_ui relay hook (progress.h): ctx is a dc_progress_relay. */
void dc_progress_relay_step(void *ctx, const char *phase, int step, int steps);

/* The request for one candidate (the row as archived, pending) and back. same_code, when
 * not NULL, is the visible earlier candidate with the same code hash. */
cJSON *dc_request_to_json(const arc_candidate *c, double budget, const arc_candidate *same_code);
/* Fills c (zeroed first) and *budget; *has_same is 1 with *same filled when the request
 * names one. 0, or -1 with why. */
int dc_request_from_json(const cJSON *msg, arc_candidate *c, double *budget, arc_candidate *same,
                         int *has_same, char *err, size_t errcap);
/* An earlier candidate as ORIG (code included when with_code), and back (0, -1 malformed). */
cJSON *dc_orig_to_json(const arc_candidate *o, int with_code);
int dc_orig_from_json(const cJSON *j, arc_candidate *o);

typedef struct {
    pid_t pid; /* a local evaluator process; 0: none */
    int rank;  /* > 0: this evaluator runs on MPI rank `rank` (mpi_pool.h), pid stays 0 */
    int up;    /* started and not stopped */
    int to, from;
    int64_t cand;   /* candidate being evaluated, 0 when idle */
    double started; /* when it was sent (dc_now) */
} dc_evaluator;

/* Starts `exe __evaluator IN OUT` with env_extra ("K=V", NULL-ended; may be NULL) added to
 * its environment; nothing is sent. 0, or -1 with why. ev->rank is kept. */
int dc_evaluator_spawn(dc_evaluator *ev, const char *exe, char *const env_extra[], char *err,
                       size_t errcap);
/* Starts the evaluator (`exe __evaluator`, or the one on MPI rank ev->rank) and sends it
 * init; waits for its ready answer. 0, or -1 with why (the process is then reaped). */
int dc_evaluator_start(dc_evaluator *ev, const char *exe, const cJSON *init, char *err,
                       size_t errcap);
/* Sends sig to a running evaluator (on its rank for an MPI one); nothing when it is not
 * running. */
void dc_evaluator_signal(dc_evaluator *ev, int sig);
/* Closes its pipes (an idle evaluator exits at end of file), waits up to grace_s, then
 * SIGKILLs it; reaps it (an MPI rank does the same with its own). Sets *why to how it
 * ended when why is not NULL. */
void dc_evaluator_stop(dc_evaluator *ev, double grace_s, char *why, size_t whycap);

#endif
