/* islands.c — which candidates an island sees (islands.h). */
#include "islands.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

int dc_island_of(int generation, int islands)
{
    if (generation <= 0 || islands <= 1) return 0;
    return (generation - 1) % islands;
}

/* The best scored candidate of island `from` among generations 1..upto: its index, or -1.
 * Ties go to the earlier candidate (id order), so the choice is deterministic. */
static int best_of(const arc_candidate *c, int n, int from, int upto)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (c[i].generation < 1 || c[i].generation > upto || c[i].island != from) continue;
        if (!c[i].has_fitness || !c[i].status || strcmp(c[i].status, "ok")) continue;
        if (best < 0 || c[i].fitness > c[best].fitness) best = i;
    }
    return best;
}

void dc_island_view(arc_candidate *cands, int *n, int island, int islands, int migrate_every,
                    int seen)
{
    if (islands <= 1) return;
    char *keep = dc_calloc((size_t)*n + 1, 1);
    int from = (island + islands - 1) % islands; /* the ring: island i - 1 sends to i */
    for (int i = 0; i < *n; i++)
        keep[i] = cands[i].generation == 0 || cands[i].island == island;
    for (int m = migrate_every; m <= seen; m += migrate_every) {
        int b = best_of(cands, *n, from, m);
        if (b >= 0) keep[b] = 1;
    }
    int kept = 0;
    for (int i = 0; i < *n; i++) {
        if (keep[i])
            cands[kept++] = cands[i];
        else
            arc_candidate_free(&cands[i]);
    }
    *n = kept;
    free(keep);
}
