/* confirm.h — confirmation of a campaign's best candidates on fresh training seeds.
 *
 * The search picks its best by validation fitness on the search's own seeds, so its top is
 * biased upwards (the winner's curse). Confirmation re-trains the top K by search fitness on
 * seeds the search never used and records each run as an evaluation with purpose 'confirm';
 * the campaign's winner is then the best by mean confirmed validation fitness (never by the
 * held-out test metric, which stays a check on the choice). */
#ifndef DC_CONFIRM_H
#define DC_CONFIRM_H

#include <stddef.h>
#include <stdint.h>

/* The default fresh seeds: campaign seed + 1000, + 1001, + 1002 (the search's training
 * seeds are small numbers, 1 by default; a seed the search used is refused anyway). */
#define DC_CONFIRM_SEED_OFFSET 1000
#define DC_CONFIRM_DEFAULT_NSEEDS 3
/* How many of the best `discover confirm` re-trains without --top. */
#define DC_CONFIRM_DEFAULT_TOP 5
/* Fills seeds with the defaults for a campaign seed; returns how many. */
int dc_confirm_default_seeds(uint64_t campaign_seed, int *seeds, int cap);

/* Confirms campaign `campaign` of the archive at archive_path: the `top` best scored
 * candidates by search fitness, each trained on every seed through the check pipeline
 * (sandbox worker, the campaign's archived task options). A (candidate, seed) already
 * confirmed is not trained again. seeds NULL: the defaults. Progress lines on stderr unless
 * quiet. 0, or -1 with a message naming the problem (no such campaign, a seed the search
 * used, no scored candidate, the archive not writable). A candidate that fails on a seed is
 * recorded with its status and counts as not confirmed on that seed. */
int dc_confirm_campaign(const char *archive_path, const char *campaign, int top, const int *seeds,
                        int nseeds, int quiet, char *err, size_t errcap);

#endif
