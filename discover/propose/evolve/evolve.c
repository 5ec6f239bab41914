/* evolve.c — the offline proposer's outer logic: seeds, parent selection by tournament,
 * mutation or crossover, de-duplication against the archive, names and thoughts. */
#include "evolve.h"
#include "evolve_token.h"

#include "sandbox/sandbox.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOURNAMENT 3
#define CROSSOVER_P 0.25
#define ATTEMPTS 24

typedef struct {
    const char *name;
    const char *genome;
    const char *thought;
} seed_def;

static const seed_def PREF_SEEDS[] = {
    {"dpo", "pref norm=sum ref=1 s=1 m=0 c=0 : logistic(1)",
     "Seed baseline: DPO's logistic loss log(1 + e^-x) on the margin x = beta*rho (Rafailov et "
     "al., "
     "2023), the reference point every discovered objective is compared with."},
    {"slic_hinge", "pref norm=sum ref=1 s=1 m=0 c=0 : hinge(1)",
     "Seed baseline: SLiC's hinge loss max(0, 1 - x) (Zhao et al., 2023): no gradient once a pair "
     "is won by a margin of 1."},
    {"ipo", "pref norm=avg ref=1 s=1 m=0 c=0 : sq(0.5)",
     "Seed baseline: IPO's squared loss (rho - 1/(2 beta))^2 on per-token averaged log-ratios "
     "(Azar et al., 2024): regresses the margin to a fixed target instead of pushing it to "
     "infinity."},
    {"sigmoid_pair", "pref norm=sum ref=1 s=1 m=0 c=0 : sigm(1)",
     "Seed baseline: a KTO-like saturating loss 1 - sigmoid(x) (the shape of KTO-pair's value "
     "function, Ethayarajh et al., 2024): bounded, so outlier pairs cannot dominate."},
};

static const seed_def CLS_SEEDS[] = {
    {"cross_entropy", "cls T=1 : ce", "Seed baseline: the standard softmax cross-entropy."},
    {"label_smoothing", "cls T=1 : ls(0.1)",
     "Seed baseline: cross-entropy with label smoothing 0.1 (Szegedy et al., 2016), the first step "
     "of DiscoPOP's CIFAR-10 case study."},
    {"squared_error", "cls T=1 : sqerr",
     "Seed baseline: squared error between the softmax probabilities and the one-hot label (Brier "
     "score)."},
    {"focal", "cls T=1 : focal(2)",
     "Seed baseline: focal loss with gamma 2 (Lin et al., 2017), down-weighting easy examples."},
};

static const seed_def *seeds_of(sbx_kind iface, int *n)
{
    if (iface == SBX_PREF) {
        *n = (int)(sizeof PREF_SEEDS / sizeof PREF_SEEDS[0]);
        return PREF_SEEDS;
    }
    if (iface == SBX_CLS) {
        *n = (int)(sizeof CLS_SEEDS / sizeof CLS_SEEDS[0]);
        return CLS_SEEDS;
    }
    *n = 0;
    return NULL;
}

int evolve_seed_count(sbx_kind interface)
{
    if (interface == SBX_TOKEN_PREF) return evolve_token_seed_count();
    int n;
    seeds_of(interface, &n);
    return n;
}

static int seed_genome(sbx_kind iface, int i, evolve_genome *g)
{
    int n;
    const seed_def *s = seeds_of(iface, &n);
    char err[256];
    if (!s || i < 0 || i >= n) return -1;
    return evolve_genome_parse(s[i].genome, g, err, sizeof err);
}

int evolve_seed(sbx_kind interface, int i, evolve_proposal *out)
{
    if (interface == SBX_TOKEN_PREF) return evolve_token_seed(i, out);
    int n;
    const seed_def *s = seeds_of(interface, &n);
    evolve_genome g;
    memset(out, 0, sizeof *out);
    if (seed_genome(interface, i, &g)) return -1;
    char *code = evolve_render(&g, s[i].name);
    if (!code) return -1;
    out->text.name = dc_strdup(s[i].name);
    out->text.thought = dc_strdup(s[i].thought);
    out->text.code = code;
    return 0;
}

void evolve_proposal_free(evolve_proposal *p)
{
    if (!p) return;
    dc_candidate_text_free(&p->text);
    memset(p, 0, sizeof *p);
}

/* ---- naming ---- */

/* snake_case from the leaves in order of appearance (at most three distinct), the
 * modifiers that matter, and four hex digits of the genome line so siblings differ. */
void evolve_genome_name(const evolve_genome *g, char *buf, size_t cap)
{
    char line[1024];
    dc_sb s = {0};
    const char *seen[EVOLVE_MAX_NODES];
    int nseen = 0;
    for (int i = 0; i < g->nnodes && nseen < 3; i++) {
        if (g->node[i].op == EV_MIX) continue;
        const char *nm = evolve_op_get(g->node[i].op)->name;
        int dup = 0;
        for (int j = 0; j < nseen; j++)
            dup |= strcmp(seen[j], nm) == 0;
        if (dup) continue;
        seen[nseen++] = nm;
        dc_sb_printf(&s, "%s%s", s.len ? "_" : "", nm);
    }
    for (int i = 0; i < g->nnodes; i++)
        if (g->node[i].op == EV_MIX && g->node[i].gate != EV_GATE_CONST) {
            dc_sb_append(&s, g->node[i].gate == EV_GATE_SIG    ? "_gated"
                             : g->node[i].gate == EV_GATE_BVAR ? "_bvar"
                                                               : "_bmean");
            break;
        }
    if (g->iface == SBX_PREF && g->lennorm) dc_sb_append(&s, "_avg");
    if (g->iface == SBX_PREF && !g->ref) dc_sb_append(&s, "_noref");
    if (evolve_genome_format(g, line, sizeof line)) line[0] = 0;
    dc_sb_printf(&s, "_%04x", (unsigned)(dc_hash64(line, strlen(line), 0) & 0xffff));
    snprintf(buf, cap, "%s", s.data);
    dc_sb_free(&s);
}

/* ---- selection ---- */

typedef struct {
    int pool_index;
    evolve_genome g;
} usable;

/* Index into u[] of the fittest of TOURNAMENT uniform draws. */
static int tournament(const usable *u, int nu, const evolve_parent *pool, dc_rng *r)
{
    int best = (int)dc_rng_below(r, (uint32_t)nu);
    for (int t = 1; t < TOURNAMENT; t++) {
        int c = (int)dc_rng_below(r, (uint32_t)nu);
        if (pool[u[c].pool_index].fitness > pool[u[best].pool_index].fitness) best = c;
    }
    return best;
}

/* 1-based rank of a fitness among the usable parents (1 = best). */
static int rank_of(const usable *u, int nu, const evolve_parent *pool, double f)
{
    int rank = 1;
    for (int i = 0; i < nu; i++)
        if (pool[u[i].pool_index].fitness > f) rank++;
    return rank;
}

static const char *ordinal(int n)
{
    int m = n % 100;
    if (m >= 11 && m <= 13) return "th";
    switch (n % 10) {
    case 1:
        return "st";
    case 2:
        return "nd";
    case 3:
        return "rd";
    default:
        return "th";
    }
}

int evolve_in_pool(const evolve_parent *pool, int npool, const char *code)
{
    for (int i = 0; i < npool; i++)
        if (pool[i].code && strcmp(pool[i].code, code) == 0) return 1;
    return 0;
}

static void fill(evolve_proposal *out, const evolve_genome *g, const char *thought)
{
    char name[128];
    evolve_genome_name(g, name, sizeof name);
    out->text.name = dc_strdup(name);
    out->text.thought = dc_strdup(thought);
    out->text.code = evolve_render(g, name);
    if (!out->text.code)
        out->text.code = dc_strdup(""); /* cannot happen: genomes stay within the line limit */
}

/* No scored evolve parent: the first seed the campaign has not tried, else a mutated seed. */
static int propose_from_seeds(sbx_kind iface, const evolve_parent *pool, int npool, dc_rng *rng,
                              evolve_proposal *out)
{
    int n = evolve_seed_count(iface);
    for (int i = 0; i < n; i++) {
        if (evolve_seed(iface, i, out)) return -1;
        if (!evolve_in_pool(pool, npool, out->text.code)) return 0;
        evolve_proposal_free(out);
    }
    int nseeds;
    const seed_def *s = seeds_of(iface, &nseeds);
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        int i = (int)dc_rng_below(rng, (uint32_t)nseeds);
        evolve_genome g, child;
        char change[768], thought[1024];
        if (seed_genome(iface, i, &g)) return -1;
        if (evolve_mutate(&g, rng, &child, change, sizeof change)) continue;
        snprintf(
            thought, sizeof thought,
            "No evolve candidate has a fitness yet, so I started from the built-in seed '%s'; %s.",
            s[i].name, change);
        fill(out, &child, thought);
        if (!evolve_in_pool(pool, npool, out->text.code) || attempt == ATTEMPTS - 1) return 0;
        evolve_proposal_free(out);
    }
    return evolve_seed(iface, 0, out);
}

int evolve_propose(sbx_kind interface, const evolve_parent *pool, int npool, dc_rng *rng,
                   evolve_proposal *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    /* token-level pairs have their own grammar around the preference one (evolve_token.h) */
    if (interface == SBX_TOKEN_PREF)
        return evolve_token_propose(pool, npool, rng, out, err, errcap);
    if (interface != SBX_PREF && interface != SBX_CLS) {
        snprintf(err, errcap,
                 "evolve: unknown objective interface %d (expected preference or "
                 "classification)",
                 interface);
        return -1;
    }
    usable *u = dc_calloc(npool > 0 ? (size_t)npool : 1, sizeof *u);
    int nu = 0;
    for (int i = 0; i < npool; i++) {
        char perr[256];
        if (!pool[i].status || strcmp(pool[i].status, "ok") != 0 || !pool[i].has_fitness ||
            !isfinite(pool[i].fitness))
            continue;
        if (evolve_genome_from_code(pool[i].code, &u[nu].g, perr, sizeof perr)) continue;
        if (u[nu].g.iface != (int)interface) continue;
        u[nu++].pool_index = i;
    }
    if (nu == 0) {
        free(u);
        if (propose_from_seeds(interface, pool, npool, rng, out)) {
            snprintf(err, errcap, "evolve: the built-in seeds failed to render");
            return -1;
        }
        return 0;
    }

    /* A share of fresh draws keeps a campaign whose early parents all belong to one weak
     * family (say, the cross-entropy variants of the seeds) from spending its whole budget
     * mutating them: at an equal budget evolve then explores at least 1/5 as widely as the
     * random control does. */
    if (dc_rng_uniform(rng) < EVOLVE_IMMIGRANT_P) {
        free(u);
        return evolve_immigrant(interface, pool, npool, rng, out, err, errcap);
    }
    int done = 0;
    for (int attempt = 0; attempt < ATTEMPTS && !done; attempt++) {
        evolve_genome child;
        char change[768], thought[1280];
        int a = tournament(u, nu, pool, rng);
        const evolve_parent *pa = &pool[u[a].pool_index];
        int crossover = nu >= 2 && dc_rng_uniform(rng) < CROSSOVER_P;
        int b = -1;
        if (crossover) {
            b = tournament(u, nu, pool, rng);
            for (int t = 0; t < 4 && b == a; t++)
                b = tournament(u, nu, pool, rng);
            if (b == a) crossover = 0;
        }
        if (crossover) {
            const evolve_parent *pb = &pool[u[b].pool_index];
            if (evolve_crossover(&u[a].g, &u[b].g, rng, &child, change, sizeof change)) continue;
            snprintf(thought, sizeof thought,
                     "Crossover of '%s' (fitness %.4f, %d%s of %d) and '%s' (fitness %.4f, %d%s of "
                     "%d): %s.",
                     pa->name ? pa->name : "?", pa->fitness, rank_of(u, nu, pool, pa->fitness),
                     ordinal(rank_of(u, nu, pool, pa->fitness)), nu, pb->name ? pb->name : "?",
                     pb->fitness, rank_of(u, nu, pool, pb->fitness),
                     ordinal(rank_of(u, nu, pool, pb->fitness)), nu, change);
        } else {
            if (evolve_mutate(&u[a].g, rng, &child, change, sizeof change)) continue;
            int rk = rank_of(u, nu, pool, pa->fitness);
            char standing[96];
            if (rk == 1)
                snprintf(standing, sizeof standing, "is the best so far");
            else
                snprintf(standing, sizeof standing, "ranks %d%s of %d scored", rk, ordinal(rk), nu);
            snprintf(thought, sizeof thought,
                     "Mutation of parent '%s' (fitness %.4f), which %s: %s.",
                     pa->name ? pa->name : "?", pa->fitness, standing, change);
        }
        if (evolve_genome_equal(&child, &u[a].g)) continue;
        evolve_proposal_free(out);
        fill(out, &child, thought);
        out->parents[0] = pa->id;
        out->nparents = 1;
        if (crossover) {
            out->parents[1] = pool[u[b].pool_index].id;
            out->nparents = 2;
        }
        /* Keep the last child even when it duplicates the archive: better than nothing. */
        done = !evolve_in_pool(pool, npool, out->text.code);
    }
    free(u);
    if (!out->text.code && propose_from_seeds(interface, pool, npool, rng, out)) {
        snprintf(err, errcap, "evolve: the built-in seeds failed to render");
        return -1;
    }
    return 0;
}
