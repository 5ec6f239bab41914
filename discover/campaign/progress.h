/* progress.h — what a campaign tells the person watching it.
 *
 * On a terminal: a live status line (generation, candidate, training step, ETA, best so
 * far) plus one line per finished candidate. Otherwise (logs, CI): plain lines only. In
 * narrate mode (`discover demo`) each step is explained as it happens. */
#ifndef DC_PROGRESS_H
#define DC_PROGRESS_H

#include "archive/archive.h"
#include "campaign.h"
#include "common/status.h"
#include "inner_loop/task.h"
#include "discover/propose/proposer.h"

/* What one evaluator process (run --jobs N) is doing, for the status line. */
typedef struct {
    int64_t cand; /* 0: idle */
    int generation;
    char name[48];
    char phase[24];
    int step, steps; /* steps 0: no progress reported yet */
} dc_ui_slot;

typedef struct {
    int tty, narrate, quiet;
    int generation, generations;
    const char *candidate; /* name of the candidate in flight */
    double cand_t0, last_draw;
    const dc_campaign_summary *sum;
    int line_open; /* a status line is on screen and must be cleared before printing */
    /* Called on every training step before anything is drawn (an evaluator process relays
     * its progress to the campaign through it, evaluator.h); NULL: none. */
    void (*relay)(void *ctx, const char *phase, int step, int total);
    void *relay_ctx;
    /* run --jobs N: one slot per evaluator; the status line then shows them all */
    dc_ui_slot *slots;
    int nslots;
    int llm_out; /* LLM calls in flight (the llm proposer with --jobs N), shown on that line */
} dc_ui;

void dc_ui_init(dc_ui *u, const dc_campaign_cfg *cfg, const dc_campaign_summary *sum);
dc_progress dc_ui_progress(dc_ui *u, volatile sig_atomic_t *stop);
void dc_ui_clear_line(dc_ui *u);
void dc_ui_campaign_start(dc_ui *u, const char *archive_path, const char *proposer);
void dc_ui_proposing(dc_ui *u);
/* n LLM calls are in flight now (drawn as "[llm n out]" on the evaluators' line). */
void dc_ui_llm_out(dc_ui *u, int n);
void dc_ui_proposal(dc_ui *u, const dc_proposal *p);
void dc_ui_candidate_start(dc_ui *u, const arc_candidate *c);
void dc_ui_screened(dc_ui *u, dc_status st, const char *msg, int separable, double seconds);
void dc_ui_candidate_done(dc_ui *u, const arc_candidate *c, const dc_campaign_summary *sum);
void dc_ui_note(dc_ui *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dc_ui_error(dc_ui *u, const char *msg);
void dc_ui_campaign_done(dc_ui *u);

/* run --jobs N: the status line shows every evaluator, e.g.
 *   [gen 14/40] [e0 gen 12 sce_x 340/2000] [e1 gen 13 focal_2 score 0/1] [e2 idle] | best ...
 * dc_ui_slots sets up n idle slots (0 frees them); a slot is busy from dc_ui_slot_start
 * until dc_ui_candidate_done of its candidate (or dc_ui_slot_idle); dc_ui_slot_step records
 * a progress report of the slot's candidate (a report of another is ignored). */
void dc_ui_slots(dc_ui *u, int n);
void dc_ui_slot_start(dc_ui *u, int slot, const arc_candidate *c);
void dc_ui_slot_step(dc_ui *u, int slot, int64_t cand, const char *phase, int step, int steps);
/* The slot's evaluator is gone (its candidate, if any, waits for another). */
void dc_ui_slot_idle(dc_ui *u, int slot);
/* The status line of the slots (tag, e.g. "proposing", after the generation; NULL: none),
 * cut to width columns (0: not cut) at a character boundary, into buf. */
void dc_ui_pool_line(const dc_ui *u, const char *tag, int width, char *buf, size_t cap);

#endif
