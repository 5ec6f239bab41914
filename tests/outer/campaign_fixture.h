/* campaign_fixture.h — what the campaign tests share: an archived campaign's candidates read
 * back, and a few small working classification objectives to serve as LLM replies. */
#ifndef DC_TEST_CAMPAIGN_FIXTURE_H
#define DC_TEST_CAMPAIGN_FIXTURE_H

#include "archive/archive.h"

typedef struct {
    int n;
    arc_candidate *c; /* id order, with code */
} fx_cands;

/* The candidates of campaign `campaign` in archive db (none when either is missing). */
void fx_load(const char *db, const char *campaign, fx_cands *out);
void fx_unload(fx_cands *x);
int fx_count_status(const fx_cands *x, const char *status);

/* Cross-entropy with label smoothing 0.05; the same objective renamed and re-laid out (a
 * behavioural duplicate of it); squared error on the softmax probabilities. */
extern const char *const fx_code_ls, *const fx_code_ls_renamed, *const fx_code_sq;

#endif
