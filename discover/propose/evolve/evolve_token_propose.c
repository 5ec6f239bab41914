/* evolve_token_propose.c — the offline proposer for token-level pairs (SBX_TOKEN_PREF):
 * seeds, tournament selection, mutation of either the pair loss (evolve_mutate) or one
 * token-weight gene, crossover of both parts, de-duplication against the archive. */
#include "evolve_token.h"

#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOURNAMENT 3
#define CROSSOVER_P 0.25
#define TOKEN_GENE_P 0.5 /* share of mutations that change a token gene, not the pair loss */
#define ATTEMPTS 24

typedef struct {
    const char *name, *seq, *tok, *thought;
} token_seed;

static const token_seed SEEDS[] = {
    {"dpo_token", "pref norm=sum ref=1 s=1 m=0 c=0 : logistic(1)", "sim=0.5,0.05,1,1 lr=0,1 pos=0",
     "Seed: DPO written per token, every token weighted 1 (the reference point every "
     "token-weighting objective is compared with)."},
    {"token_ambiguity_gate", "pref norm=sum ref=1 s=1 m=0 c=0 : logistic(1)",
     "sim=0.5,0.05,0.5,1.5 lr=0,1 pos=0",
     "Seed: AAO-like weights (Li et al., 2025): tokens similar to the other response weighted "
     "0.5, dissimilar key tokens 1.5, through a sigmoid gate at similarity 0.5."},
    {"token_unlearned_focus", "pref norm=sum ref=1 s=1 m=0 c=0 : logistic(1)",
     "sim=0.5,0.05,1,1 lr=0.5,1 pos=0",
     "Seed: chosen tokens the policy still lags behind the reference, and rejected tokens it "
     "still favours, weighted up to 1.5 by a sigmoid of the token's log-ratio."},
    {"token_late_ramp", "pref norm=sum ref=1 s=1 m=0 c=0 : logistic(1)",
     "sim=0.5,0.05,1,1 lr=0,1 pos=0.5",
     "Seed: a linear position ramp from 0.5 (first token) to 1.5 (last)."},
};
#define NSEEDS ((int)(sizeof SEEDS / sizeof SEEDS[0]))

int evolve_token_seed_count(void)
{
    return NSEEDS;
}

static int seed_genome(int i, evolve_token_genome *g)
{
    char err[256];
    if (i < 0 || i >= NSEEDS) return -1;
    if (evolve_genome_parse(SEEDS[i].seq, &g->seq, err, sizeof err)) return -1;
    return evolve_token_genes_parse(SEEDS[i].tok, &g->tok, err, sizeof err);
}

static int sim_on(const evolve_token_genes *t)
{
    return t->sim_lo != 1.0 || t->sim_hi != 1.0;
}

/* snake_case: "tok", the token genes that are on, the pair loss's root term, four hex digits
 * of both genome lines so siblings differ. */
void evolve_token_name(const evolve_token_genome *g, char *buf, size_t cap)
{
    char a[1024], b[256];
    if (evolve_genome_format(&g->seq, a, sizeof a)) a[0] = 0;
    if (evolve_token_genes_format(&g->tok, b, sizeof b)) b[0] = 0;
    uint64_t h = dc_hash64(a, strlen(a), dc_hash64(b, strlen(b), 0));
    const evolve_node *root = &g->seq.node[0];
    snprintf(buf, cap, "tok%s%s%s_%s_%04x", sim_on(&g->tok) ? "_sim" : "",
             g->tok.lr_k != 0.0 ? "_lr" : "", g->tok.pos != 0.0 ? "_pos" : "",
             root->op == EV_MIX ? "mix" : evolve_op_get(root->op)->name, (unsigned)(h & 0xffff));
}

static int fill(evolve_proposal *out, const evolve_token_genome *g, const char *name,
                const char *thought)
{
    char nm[128];
    if (!name) evolve_token_name(g, nm, sizeof nm);
    out->text.name = dc_strdup(name ? name : nm);
    out->text.thought = dc_strdup(thought);
    out->text.code = evolve_token_render(g, out->text.name);
    return out->text.code ? 0 : -1;
}

int evolve_token_seed(int i, evolve_proposal *out)
{
    evolve_token_genome g;
    memset(out, 0, sizeof *out);
    if (seed_genome(i, &g)) return -1;
    if (fill(out, &g, SEEDS[i].name, SEEDS[i].thought)) {
        evolve_proposal_free(out);
        return -1;
    }
    return 0;
}

static double clampq(double v, double lo, double hi)
{
    return evolve_quantize(v < lo ? lo : v > hi ? hi : v);
}

/* One token gene changed: a factor switched on (at a seed's values) or off, or one of its
 * parameters moved. -1 when nothing changed (the caller draws again). */
static int mutate_genes(const evolve_token_genes *in, dc_rng *r, evolve_token_genes *out,
                        char *change, size_t cap)
{
    *out = *in;
    double u = dc_rng_uniform(r), step = dc_rng_normal(r);
    switch (dc_rng_below(r, 3)) {
    case 0:
        if (!sim_on(in)) {
            out->sim_a = 0.5, out->sim_t = 0.05, out->sim_lo = 0.5, out->sim_hi = 1.5;
            snprintf(change, cap,
                     "switched on similarity weights (ambiguous tokens 0.5, key "
                     "tokens 1.5) because DPO spends gradient on tokens both "
                     "responses share");
        } else if (u < 0.2) {
            out->sim_lo = out->sim_hi = 1;
            snprintf(change, cap, "switched the similarity weights off to test whether they help");
        } else if (u < 0.4) {
            out->sim_a = clampq(in->sim_a + 0.15 * step, 0, 1);
            snprintf(change, cap, "moved the similarity threshold from %.4g to %.4g", in->sim_a,
                     out->sim_a);
        } else if (u < 0.6) {
            out->sim_t = clampq(in->sim_t * exp(0.5 * step), 0.02, 0.5);
            snprintf(change, cap, "changed the similarity gate's temperature from %.4g to %.4g",
                     in->sim_t, out->sim_t);
        } else if (u < 0.8) {
            out->sim_lo = clampq(in->sim_lo + 0.15 * step, 0.05, 1);
            snprintf(change, cap, "changed the weight of ambiguous tokens from %.4g to %.4g",
                     in->sim_lo, out->sim_lo);
        } else {
            out->sim_hi = clampq(in->sim_hi + 0.25 * step, 1, 3);
            snprintf(change, cap, "changed the weight of key tokens from %.4g to %.4g", in->sim_hi,
                     out->sim_hi);
        }
        break;
    case 1:
        if (in->lr_k == 0.0) {
            out->lr_k = 0.5, out->lr_t = 1;
            snprintf(change, cap,
                     "switched on log-ratio weights so tokens the policy has not "
                     "yet moved get more of the gradient");
        } else if (u < 0.2) {
            out->lr_k = 0;
            snprintf(change, cap, "switched the log-ratio weights off to test whether they help");
        } else if (u < 0.6) {
            out->lr_k = clampq(in->lr_k + 0.15 * step, 0.05, 0.9);
            snprintf(change, cap, "changed the log-ratio weights' strength from %.4g to %.4g",
                     in->lr_k, out->lr_k);
        } else {
            out->lr_t = clampq(in->lr_t * exp(0.5 * step), 0.05, 5);
            snprintf(change, cap, "changed the log-ratio gate's temperature from %.4g to %.4g",
                     in->lr_t, out->lr_t);
        }
        break;
    default:
        if (in->pos == 0.0) {
            out->pos = u < 0.5 ? 0.5 : -0.5;
            snprintf(change, cap, "added a position ramp favouring %s tokens",
                     out->pos > 0 ? "late" : "early");
        } else if (u < 0.2) {
            out->pos = 0;
            snprintf(change, cap, "removed the position ramp to test whether it helps");
        } else {
            out->pos = clampq(in->pos + 0.2 * step, -0.9, 0.9);
            snprintf(change, cap, "changed the position ramp's slope from %.4g to %.4g", in->pos,
                     out->pos);
        }
        break;
    }
    return memcmp(in, out, sizeof *in) == 0 ? -1 : 0;
}

typedef struct {
    int pool_index;
    evolve_token_genome g;
} usable;

static int tournament(const usable *u, int nu, const evolve_parent *pool, dc_rng *r)
{
    int best = (int)dc_rng_below(r, (uint32_t)nu);
    for (int t = 1; t < TOURNAMENT; t++) {
        int c = (int)dc_rng_below(r, (uint32_t)nu);
        if (pool[u[c].pool_index].fitness > pool[u[best].pool_index].fitness) best = c;
    }
    return best;
}

static int in_pool(const evolve_parent *pool, int npool, const char *code)
{
    for (int i = 0; i < npool; i++)
        if (pool[i].code && strcmp(pool[i].code, code) == 0) return 1;
    return 0;
}

static int same(const evolve_token_genome *a, const evolve_token_genome *b)
{
    return evolve_genome_equal(&a->seq, &b->seq) && memcmp(&a->tok, &b->tok, sizeof a->tok) == 0;
}

/* A child of one parent (mutation) or two (each part from a crossover, the token factors
 * taken from either parent one by one). -1 when the drawn change did nothing. */
static int make_child(const usable *u, int a, int b, dc_rng *r, evolve_token_genome *child,
                      char *change, size_t cap)
{
    const evolve_token_genome *pa = &u[a].g;
    *child = *pa;
    if (b < 0) {
        if (dc_rng_uniform(r) < TOKEN_GENE_P)
            return mutate_genes(&pa->tok, r, &child->tok, change, cap);
        return evolve_mutate(&pa->seq, r, &child->seq, change, cap);
    }
    const evolve_token_genome *pb = &u[b].g;
    char seqchange[768] = "kept the first parent's pair loss";
    if (evolve_crossover(&pa->seq, &pb->seq, r, &child->seq, seqchange, sizeof seqchange))
        child->seq = pa->seq;
    int from_b[3];
    for (int k = 0; k < 3; k++)
        from_b[k] = dc_rng_uniform(r) < 0.5;
    if (from_b[0])
        child->tok.sim_a = pb->tok.sim_a, child->tok.sim_t = pb->tok.sim_t,
        child->tok.sim_lo = pb->tok.sim_lo, child->tok.sim_hi = pb->tok.sim_hi;
    if (from_b[1]) child->tok.lr_k = pb->tok.lr_k, child->tok.lr_t = pb->tok.lr_t;
    if (from_b[2]) child->tok.pos = pb->tok.pos;
    snprintf(change, cap, "%s; similarity, log-ratio and position weights from parent %c, %c, %c",
             seqchange, from_b[0] ? 'B' : 'A', from_b[1] ? 'B' : 'A', from_b[2] ? 'B' : 'A');
    return same(child, pa) || same(child, pb) ? -1 : 0;
}

static int propose_from_seeds(const evolve_parent *pool, int npool, dc_rng *rng,
                              evolve_proposal *out)
{
    for (int i = 0; i < NSEEDS; i++) {
        if (evolve_token_seed(i, out)) return -1;
        if (!in_pool(pool, npool, out->text.code)) return 0;
        evolve_proposal_free(out);
    }
    usable u;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        int i = (int)dc_rng_below(rng, NSEEDS);
        char change[768], thought[1024];
        evolve_token_genome child;
        if (seed_genome(i, &u.g)) return -1;
        if (make_child(&u, 0, -1, rng, &child, change, sizeof change)) continue;
        snprintf(thought, sizeof thought,
                 "No evolve candidate has a fitness yet, so I started from the built-in seed "
                 "'%s'; %s.",
                 SEEDS[i].name, change);
        if (fill(out, &child, NULL, thought)) return -1;
        if (!in_pool(pool, npool, out->text.code) || attempt == ATTEMPTS - 1) return 0;
        evolve_proposal_free(out);
    }
    return evolve_token_seed(0, out);
}

int evolve_token_propose(const evolve_parent *pool, int npool, dc_rng *rng, evolve_proposal *out,
                         char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    usable *u = dc_calloc(npool > 0 ? (size_t)npool : 1, sizeof *u);
    int nu = 0;
    for (int i = 0; i < npool; i++) {
        char perr[256];
        if (!pool[i].status || strcmp(pool[i].status, "ok") != 0 || !pool[i].has_fitness ||
            !isfinite(pool[i].fitness) || !pool[i].code ||
            !strstr(pool[i].code, "token_pref_batch"))
            continue;
        if (evolve_token_from_code(pool[i].code, &u[nu].g, perr, sizeof perr)) continue;
        u[nu++].pool_index = i;
    }
    int rc = 0;
    for (int attempt = 0; nu > 0 && attempt < ATTEMPTS; attempt++) {
        evolve_token_genome child;
        char change[1024], thought[1536];
        int a = tournament(u, nu, pool, rng), b = -1;
        if (nu >= 2 && dc_rng_uniform(rng) < CROSSOVER_P) {
            b = tournament(u, nu, pool, rng);
            if (b == a) b = -1;
        }
        if (make_child(u, a, b, rng, &child, change, sizeof change)) continue;
        const evolve_parent *pa = &pool[u[a].pool_index];
        if (b < 0)
            snprintf(thought, sizeof thought, "Mutation of parent '%s' (fitness %.4f): %s.",
                     pa->name ? pa->name : "?", pa->fitness, change);
        else
            snprintf(thought, sizeof thought,
                     "Crossover of '%s' (A, fitness %.4f) and '%s' (B, fitness %.4f): %s.",
                     pa->name ? pa->name : "?", pa->fitness,
                     pool[u[b].pool_index].name ? pool[u[b].pool_index].name : "?",
                     pool[u[b].pool_index].fitness, change);
        evolve_proposal_free(out);
        if (fill(out, &child, NULL, thought)) {
            rc = -1;
            break;
        }
        out->parents[0] = pa->id;
        out->nparents = 1;
        if (b >= 0) out->parents[1] = pool[u[b].pool_index].id, out->nparents = 2;
        /* keep the last child even when it duplicates the archive: better than nothing */
        if (!in_pool(pool, npool, out->text.code)) break;
    }
    free(u);
    if (rc == 0 && !out->text.code && propose_from_seeds(pool, npool, rng, out)) rc = -1;
    if (rc) {
        evolve_proposal_free(out);
        snprintf(err, errcap, "evolve: a token-level genome failed to render");
    }
    return rc;
}
