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

typedef struct {
    int tty, narrate, quiet;
    int generation, generations;
    const char *candidate; /* name of the candidate in flight */
    double cand_t0, last_draw;
    const dc_campaign_summary *sum;
    int line_open; /* a status line is on screen and must be cleared before printing */
} dc_ui;

void dc_ui_init(dc_ui *u, const dc_campaign_cfg *cfg, const dc_campaign_summary *sum);
dc_progress dc_ui_progress(dc_ui *u, volatile sig_atomic_t *stop);
void dc_ui_clear_line(dc_ui *u);
void dc_ui_campaign_start(dc_ui *u, const char *archive_path, const char *proposer);
void dc_ui_proposing(dc_ui *u);
void dc_ui_proposal(dc_ui *u, const dc_proposal *p);
void dc_ui_candidate_start(dc_ui *u, const arc_candidate *c);
void dc_ui_screened(dc_ui *u, dc_status st, const char *msg, int separable, double seconds);
void dc_ui_candidate_done(dc_ui *u, const arc_candidate *c, const dc_campaign_summary *sum);
void dc_ui_note(dc_ui *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dc_ui_error(dc_ui *u, const char *msg);
void dc_ui_campaign_done(dc_ui *u);

#endif
