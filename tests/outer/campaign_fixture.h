/* campaign_fixture.h — what the campaign tests share: an archived campaign's candidates read
 * back, and a few small working classification objectives to serve as LLM replies. */
#ifndef DC_TEST_CAMPAIGN_FIXTURE_H
#define DC_TEST_CAMPAIGN_FIXTURE_H

#include "archive/archive.h"

#include <sys/types.h>

typedef struct {
    int n;
    arc_candidate *c; /* id order, with code */
} fx_cands;

/* The candidates of campaign `campaign` in archive db (none when either is missing). */
void fx_load(const char *db, const char *campaign, fx_cands *out);
void fx_unload(fx_cands *x);
int fx_count_status(const fx_cands *x, const char *status);

/* The pids of pid's children (Linux /proc/PID/task/PID/children), up to cap. */
int fx_children_of(pid_t pid, pid_t *out, int cap);
/* 1 when pid is gone (or a zombie nobody waits for: it runs nothing). */
int fx_gone(pid_t pid);

/* Cross-entropy with label smoothing 0.05; the same objective renamed and re-laid out (a
 * behavioural duplicate of it); squared error on the softmax probabilities. */
extern const char *const fx_code_ls, *const fx_code_ls_renamed, *const fx_code_sq;

#endif
