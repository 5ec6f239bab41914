/* islands.h — sub-populations of a campaign (run --islands K --migrate-every M).
 *
 * Generation 0 (the seed baselines) is shared by every island; generation g >= 1 belongs to
 * island (g - 1) mod K, so the islands take turns and the assignment never depends on timing.
 * A migration happens after every M-th generation (M, 2M, ...): the best scored candidate
 * (status ok, generation >= 1) of island i among generations up to that point joins the
 * context of island (i + 1) mod K. Migrants are derived from the archive, never stored: a
 * proposal whose view reaches generation m (the --in-flight horizon) has received the
 * migrations up to m, so a resumed campaign and any --jobs order see the same migrants.
 * With K = 1 the view is the whole history and nothing migrates. */
#ifndef DC_ISLANDS_H
#define DC_ISLANDS_H

#include "archive/archive.h"

/* The island of a generation (0 for the baselines). */
int dc_island_of(int generation, int islands);

/* Keeps in cands (id order preserved, *n updated; the others freed) what island `island`
 * sees: the baselines, its own candidates and its migrants, given that the view holds the
 * generations up to `seen`. cands must already be limited to those generations. */
void dc_island_view(arc_candidate *cands, int *n, int island, int islands, int migrate_every,
                    int seen);

#endif
