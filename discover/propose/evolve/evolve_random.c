/* evolve_random.c — the control of the search: genomes drawn at random from evolve's
 * grammar, with no parent, no selection and no mutation. A campaign with `--proposer random`
 * at the same budget as one with `evolve` tells whether evolve's selection finds anything
 * that chance alone would not.
 *
 * The draw: the tree grows from the root; a node becomes a mixture with probability 1/2
 * while the depth and node limits leave room for two children, else a leaf. Each leaf's
 * term is uniform over the interface's terms; a parameter is log-uniform over its range when
 * evolve perturbs it on a log scale, uniform otherwise. A preference mixture's gate is
 * uniform over constant, sigmoid, batch-variance and batch-mean (an integer parameter is
 * uniform over its whole numbers). Length normalisation and the reference model are coin
 * flips; with the reference, the f-divergence is DPO's with probability 1/2, else JS or
 * alpha (log-uniform); each numeric modifier (classification: the temperature and the logit
 * margin) keeps the seeds' default with probability 1/2,
 * else is uniform over its range (log-uniform for the scale and the temperature), so the
 * draws cover both the seeds' neighbourhood and the rest of the space.
 *
 * Token-level pairs (SBX_TOKEN_PREF) draw from evolve's token-level grammar
 * (evolve_token.h): a preference genome as above for the pair loss, then each of the three
 * token-weight factors (similarity gate, log-ratio gate, position ramp) is on with
 * probability 1/2, its parameters uniform over the ranges the grammar allows when on
 * (log-uniform for the two gate temperatures). */
#include "evolve.h"
#include "evolve_token.h"

#include "sandbox/sandbox.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ATTEMPTS 24
#define MIX_P 0.5

static double uniform_in(dc_rng *r, double lo, double hi)
{
    return evolve_quantize(lo + (hi - lo) * dc_rng_uniform(r));
}

static double log_uniform_in(dc_rng *r, double lo, double hi)
{
    return evolve_quantize(exp(log(lo) + (log(hi) - log(lo)) * dc_rng_uniform(r)));
}

static double draw_param(const evolve_op_info *o, dc_rng *r)
{
    if (!o->has_param) return 0.0;
    if (o->step == EV_STEP_INT) return o->lo + (double)dc_rng_below(r, (uint32_t)(o->hi - o->lo + 1));
    if (o->step == EV_STEP_LOG && o->lo > 0) return log_uniform_in(r, o->lo, o->hi);
    return uniform_in(r, o->lo, o->hi);
}

/* Appends a random subtree at depth `depth` in prefix order; returns its node index. `room`
 * is how many nodes the rest of the tree may still use after this one's siblings. */
static int grow(evolve_genome *g, int depth, int room, dc_rng *r)
{
    int idx = g->nnodes++;
    evolve_node *n = &g->node[idx];
    memset(n, 0, sizeof *n);
    /* A mixture needs itself plus at least two leaves. */
    if (depth < EVOLVE_MAX_DEPTH && room >= 3 && dc_rng_uniform(r) < MIX_P) {
        n->op = EV_MIX;
        n->gate = g->iface == SBX_PREF ? (int)dc_rng_below(r, EV_NGATES) : EV_GATE_CONST;
        if (n->gate == EV_GATE_CONST)
            n->p = uniform_in(r, evolve_op_get(EV_MIX)->lo, evolve_op_get(EV_MIX)->hi);
        else
            n->p = log_uniform_in(r, 0.01, 1.0); /* the gate temperature's range */
        /* The first child may use what the second's single leaf leaves over. */
        int a = grow(g, depth + 1, room - 2, r);
        int used = g->nnodes - idx - 1;
        int b = grow(g, depth + 1, room - 1 - used, r);
        g->node[idx].kid[0] = a;
        g->node[idx].kid[1] = b;
        return idx;
    }
    int ops[EV_NOPS], nops = 0;
    for (int op = 1; op < EV_NOPS; op++)
        if (evolve_op_get(op)->iface == g->iface) ops[nops++] = op;
    n->op = ops[dc_rng_below(r, (uint32_t)nops)];
    n->p = draw_param(evolve_op_get(n->op), r);
    return idx;
}

static void draw_genome(sbx_kind iface, dc_rng *r, evolve_genome *g)
{
    memset(g, 0, sizeof *g);
    g->iface = (int)iface;
    g->ref = 1;
    g->scale = 1.0;
    g->temp = 1.0;
    grow(g, 1, EVOLVE_MAX_NODES, r);
    if (iface == SBX_PREF) {
        g->lennorm = (int)dc_rng_below(r, 2);
        g->ref = (int)dc_rng_below(r, 2);
        if (dc_rng_uniform(r) >= 0.5) g->scale = log_uniform_in(r, 0.1, 10);
        if (dc_rng_uniform(r) >= 0.5) g->margin = uniform_in(r, -2, 2);
        if (dc_rng_uniform(r) >= 0.5) g->centre = uniform_in(r, 0, 1);
        /* the divergence: DPO's with probability 1/2, else JS or alpha (ref=1 only) */
        if (g->ref && dc_rng_uniform(r) >= 0.5) {
            g->div = dc_rng_uniform(r) < 0.5 ? EV_DIV_JS : EV_DIV_ALPHA;
            if (g->div == EV_DIV_ALPHA) g->alpha = log_uniform_in(r, 0.05, 1);
        }
    } else {
        if (dc_rng_uniform(r) >= 0.5) g->temp = log_uniform_in(r, 0.25, 4);
        if (dc_rng_uniform(r) >= 0.5) g->cmargin = log_uniform_in(r, 0.05, 3);
    }
}

#define TOKEN_GENE_P 0.5 /* chance that each token-weight factor is on */

/* The token-weight genes (evolve_token.h: each factor off, or on over its range). */
static void draw_token_genes(dc_rng *r, evolve_token_genes *t)
{
    evolve_token_genes_off(t);
    if (dc_rng_uniform(r) < TOKEN_GENE_P) {
        t->sim_a = uniform_in(r, 0, 1);
        t->sim_t = log_uniform_in(r, 0.02, 0.5);
        t->sim_lo = uniform_in(r, 0.05, 1);
        t->sim_hi = uniform_in(r, 1, 3);
    }
    if (dc_rng_uniform(r) < TOKEN_GENE_P) {
        t->lr_k = uniform_in(r, 0.05, 0.9);
        t->lr_t = log_uniform_in(r, 0.05, 5);
    }
    if (dc_rng_uniform(r) < TOKEN_GENE_P) t->pos = uniform_in(r, -0.9, 0.9);
}

/* One token-level draw rendered into out (name, thought, code): 0, or -1 when it does not
 * render. */
static int draw_token(dc_rng *r, evolve_proposal *out)
{
    evolve_token_genome g;
    char name[128], line[1024], genes[256], thought[1600];
    draw_genome(SBX_PREF, r, &g.seq);
    draw_token_genes(r, &g.tok);
    if (evolve_genome_format(&g.seq, line, sizeof line) != 0 ||
        evolve_token_genes_format(&g.tok, genes, sizeof genes) != 0)
        return -1; /* cannot happen: the buffers fit the longest genome */
    evolve_token_name(&g, name, sizeof name);
    snprintf(thought, sizeof thought,
             "Random draw from the evolve token-level grammar (the control of the search: no "
             "parent, no selection): pair loss %s; token weights %s.",
             line, genes);
    out->text.code = evolve_token_render(&g, name);
    if (!out->text.code) return -1;
    out->text.name = dc_strdup(name);
    out->text.thought = dc_strdup(thought);
    return 0;
}

/* One draw rendered as a proposal whose thought starts with why (then the genome line). */
static int draw_proposal(sbx_kind interface, const evolve_parent *pool, int npool, dc_rng *rng,
                         evolve_proposal *out, char *err, size_t errcap, const char *why)
{
    memset(out, 0, sizeof *out);
    if (interface != SBX_PREF && interface != SBX_CLS && interface != SBX_TOKEN_PREF) {
        snprintf(err, errcap,
                 "random: unknown objective interface %d (expected preference, token-level "
                 "preference or classification)",
                 interface);
        return -1;
    }
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (interface == SBX_TOKEN_PREF) {
            evolve_proposal_free(out);
            if (draw_token(rng, out) != 0) continue;
            if (!evolve_in_pool(pool, npool, out->text.code)) break;
            continue;
        }
        evolve_genome g;
        char name[128], line[1024], thought[1400];
        draw_genome(interface, rng, &g);
        if (evolve_genome_format(&g, line, sizeof line) != 0) continue; /* cannot happen */
        evolve_genome_name(&g, name, sizeof name);
        snprintf(thought, sizeof thought, "%s: %s.", why, line);
        evolve_proposal_free(out);
        out->text.code = evolve_render(&g, name);
        if (!out->text.code) continue;
        out->text.name = dc_strdup(name);
        out->text.thought = dc_strdup(thought);
        /* Keep the last draw even when it duplicates the archive: the check pipeline then
         * records it as a duplicate, as it does for evolve. */
        if (!evolve_in_pool(pool, npool, out->text.code)) break;
    }
    if (!out->text.code) {
        snprintf(err, errcap, "random: no draw could be rendered");
        return -1;
    }
    return 0;
}

int evolve_random(sbx_kind interface, const evolve_parent *pool, int npool, dc_rng *rng,
                  evolve_proposal *out, char *err, size_t errcap)
{
    return draw_proposal(interface, pool, npool, rng, out, err, errcap,
                         "Random draw from the evolve grammar (the control of the search: no "
                         "parent, no selection)");
}

int evolve_immigrant(sbx_kind interface, const evolve_parent *pool, int npool, dc_rng *rng,
                     evolve_proposal *out, char *err, size_t errcap)
{
    return draw_proposal(interface, pool, npool, rng, out, err, errcap,
                         "Random immigrant: a fresh draw from the grammar with no parent (about "
                         "1 proposal in 5 is one, so that the search keeps reaching term families "
                         "its parents do not contain)");
}
