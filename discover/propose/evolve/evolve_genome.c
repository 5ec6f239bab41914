/* evolve_genome.c — the genome of the offline proposer: the building-block table, the
 * one-line text form (format + parse, which must round-trip exactly) and tree surgery. */
#include "evolve.h"

#include "sandbox/sandbox.h"
#include "common/util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const evolve_op_info OPS[EV_NOPS] = {
    [EV_MIX] = {"mix", -1, 1, 0.5, 0.02, 0.98, EV_STEP_UNIT, "mixing weight",
                "a convex mixture of two terms"},
    [EV_LOGISTIC] = {"logistic", SBX_PREF, 1, 1.0, 0.1, 10.0, EV_STEP_LOG, "logistic slope",
                     "the logistic (DPO) term"},
    [EV_HINGE] = {"hinge", SBX_PREF, 1, 1.0, 0.0, 5.0, EV_STEP_ADD, "hinge margin",
                  "the hinge (SLiC) term"},
    [EV_EXP] = {"exp", SBX_PREF, 1, 1.0, 0.1, 5.0, EV_STEP_LOG, "exponential rate",
                "the exponential term"},
    [EV_SQ] = {"sq", SBX_PREF, 1, 0.5, 0.0, 2.0, EV_STEP_ADD, "squared-loss target",
               "the squared (IPO) term"},
    [EV_SIGM] = {"sigm", SBX_PREF, 1, 1.0, 0.1, 10.0, EV_STEP_LOG, "sigmoid slope",
                 "the saturating sigmoid term"},
    [EV_CE] = {"ce", SBX_CLS, 0, 0, 0, 0, EV_STEP_LOG, "", "the cross-entropy term"},
    [EV_LS] = {"ls", SBX_CLS, 1, 0.1, 0.01, 0.5, EV_STEP_LOG, "label smoothing",
               "the label-smoothing term"},
    [EV_SQERR] = {"sqerr", SBX_CLS, 0, 0, 0, 0, EV_STEP_LOG, "", "the squared-error term"},
    [EV_FOCAL] = {"focal", SBX_CLS, 1, 2.0, 0.1, 5.0, EV_STEP_LOG, "focal gamma", "the focal term"},
    [EV_GCE] = {"gce", SBX_CLS, 1, 0.7, 0.05, 1.0, EV_STEP_LOG, "generalized-CE q",
                "the generalized cross-entropy term"},
    [EV_RCE] = {"rce", SBX_CLS, 0, 0, 0, 0, EV_STEP_LOG, "", "the reverse cross-entropy term"},
    /* the literature grammar (GRAMMAR.md has each term's source) */
    [EV_ROBUST] = {"robust", SBX_PREF, 1, 0.1, 0.01, 0.4, EV_STEP_ADD, "robust label noise",
                   "the robust-DPO term (label noise correction)"},
    [EV_BCO] = {"bco", SBX_PREF, 0, 0, 0, 0, EV_STEP_LOG, "",
                "the BCO-pair term (each response against the batch's mean reward)"},
    [EV_NCE] = {"nce", SBX_CLS, 0, 0, 0, 0, EV_STEP_LOG, "", "the normalized cross-entropy term"},
    [EV_MAE] = {"mae", SBX_CLS, 0, 0, 0, 0, EV_STEP_LOG, "", "the mean-absolute-error term"},
    [EV_NCERCE] = {"ncerce", SBX_CLS, 1, 1.0, 0.1, 10.0, EV_STEP_LOG, "passive-loss weight",
                   "the active-passive NCE+RCE term"},
    [EV_NCEMAE] = {"ncemae", SBX_CLS, 1, 1.0, 0.1, 10.0, EV_STEP_LOG, "passive-loss weight",
                   "the active-passive NCE+MAE term"},
    [EV_TAYLOR] = {"taylor", SBX_CLS, 1, 2.0, 1.0, 10.0, EV_STEP_INT, "Taylor order",
                   "the Taylor cross-entropy term"},
    [EV_POLY] = {"poly", SBX_CLS, 1, 1.0, -1.0, 5.0, EV_STEP_ADD, "poly epsilon",
                 "the Poly-1 term"},
    [EV_SBOOT] = {"sboot", SBX_CLS, 1, 0.95, 0.5, 0.99, EV_STEP_UNIT, "bootstrap weight",
                  "the soft-bootstrapping term"},
    [EV_HBOOT] = {"hboot", SBX_CLS, 1, 0.8, 0.5, 0.99, EV_STEP_UNIT, "bootstrap weight",
                  "the hard-bootstrapping term"},
    [EV_AOT] = {"aot", SBX_PREF, 0, 0, 0, 0, EV_STEP_LOG, "",
                "the AOT term (sorted policy against sorted reference log-ratios)"},
    [EV_AOTP] = {"aotp", SBX_PREF, 0, 0, 0, 0, EV_STEP_LOG, "",
                 "the AOT-pair term (sorted chosen against sorted rejected rewards)"},
    [EV_FWD] = {"fwd", SBX_CLS, 1, 0.2, 0.02, 0.8, EV_STEP_UNIT, "assumed noise rate",
                "the forward-corrected cross-entropy term (symmetric label noise)"},
};

static const char *GATE_NAMES[EV_NGATES] = {"w", "sig", "bvar", "bmean"};

const char *evolve_gate_name(int gate)
{
    return gate >= 0 && gate < EV_NGATES ? GATE_NAMES[gate] : "?";
}

const evolve_op_info *evolve_op_get(int op)
{
    return op >= 0 && op < EV_NOPS ? &OPS[op] : NULL;
}

double evolve_quantize(double v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.4g", v);
    double q = strtod(buf, NULL);
    return q == 0.0 ? 0.0 : q; /* no "-0" in the text form */
}

void evolve_genome_leaf(evolve_genome *g, int iface, int op, double p)
{
    memset(g, 0, sizeof *g);
    g->iface = iface;
    g->nnodes = 1;
    g->node[0].op = op;
    g->node[0].p = OPS[op].has_param ? evolve_quantize(p) : 0.0;
    g->ref = 1;
    g->scale = 1.0;
    g->temp = 1.0;
}

/* ---- text form ---- */

int evolve_subtree_format(const evolve_genome *g, int i, char *buf, size_t cap)
{
    const evolve_node *n = &g->node[i];
    if (n->op == EV_MIX) {
        char a[512], b[512];
        if (evolve_subtree_format(g, n->kid[0], a, sizeof a) != 0 ||
            evolve_subtree_format(g, n->kid[1], b, sizeof b) != 0) {
            if (cap) buf[0] = '\0';
            return -1;
        }
        return dc_fmt_exact(buf, cap, "mix(%s:%.4g,%s,%s)", GATE_NAMES[n->gate], n->p, a, b);
    } else if (OPS[n->op].has_param) {
        return dc_fmt_exact(buf, cap, "%s(%.4g)", OPS[n->op].name, n->p);
    } else {
        return dc_fmt_exact(buf, cap, "%s", OPS[n->op].name);
    }
}

int evolve_genome_format(const evolve_genome *g, char *buf, size_t cap)
{
    char tree[1024], head[160];
    if (evolve_subtree_format(g, 0, tree, sizeof tree) != 0) return -1; // a cut genome would not parse back
    /* the newer modifiers are written only when they differ from their defaults, so an
     * older genome's line (and its code) stays what it was */
    if (g->iface == SBX_PREF) {
        char div[32] = "";
        if (g->div == EV_DIV_JS)
            snprintf(div, sizeof div, " div=js");
        else if (g->div == EV_DIV_ALPHA)
            snprintf(div, sizeof div, " div=alpha:%.4g", g->alpha);
        snprintf(head, sizeof head, "pref norm=%s ref=%d s=%.4g m=%.4g c=%.4g%s",
                 g->lennorm ? "avg" : "sum", g->ref, g->scale, g->margin, g->centre, div);
    } else if (g->cmargin != 0.0) {
        snprintf(head, sizeof head, "cls T=%.4g M=%.4g", g->temp, g->cmargin);
    } else {
        snprintf(head, sizeof head, "cls T=%.4g", g->temp);
    }
    int n = snprintf(buf, cap, "%s : %s", head, tree);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

typedef struct {
    const char *s;  /* cursor */
    const char *s0; /* start, for positions in messages */
    char *err;
    size_t errcap;
    int failed;
} parser;

static void fail(parser *p, const char *what)
{
    if (!p->failed)
        snprintf(p->err, p->errcap, "evolve genome: %s at column %d of \"%s\"", what,
                 (int)(p->s - p->s0) + 1, p->s0);
    p->failed = 1;
}

static void skip_ws(parser *p)
{
    while (*p->s == ' ' || *p->s == '\t')
        p->s++;
}

static int expect(parser *p, char c)
{
    skip_ws(p);
    if (*p->s != c) {
        char m[48];
        snprintf(m, sizeof m, "expected '%c'", c);
        fail(p, m);
        return -1;
    }
    p->s++;
    return 0;
}

static int number(parser *p, double *v)
{
    skip_ws(p);
    char *end;
    *v = strtod(p->s, &end);
    if (end == p->s || !isfinite(*v)) {
        fail(p, "expected a number");
        return -1;
    }
    p->s = end;
    return 0;
}

/* Reads [a-z]+ into buf. */
static int word(parser *p, char *buf, size_t cap)
{
    skip_ws(p);
    size_t n = 0;
    while (islower((unsigned char)*p->s) && n + 1 < cap)
        buf[n++] = *p->s++;
    buf[n] = 0;
    if (n == 0) fail(p, "expected a term name");
    return n ? 0 : -1;
}

static int in_range(const evolve_op_info *o, double v)
{
    return v >= o->lo && v <= o->hi;
}

static int parse_node(parser *p, evolve_genome *g, int depth)
{
    char w[16];
    if (depth > EVOLVE_MAX_DEPTH) {
        fail(p, "tree deeper than 3 levels");
        return -1;
    }
    if (g->nnodes >= EVOLVE_MAX_NODES) {
        fail(p, "more than 7 terms");
        return -1;
    }
    if (word(p, w, sizeof w)) return -1;
    int op = -1;
    for (int i = 0; i < EV_NOPS; i++)
        if (strcmp(OPS[i].name, w) == 0) op = i;
    if (op < 0) {
        fail(p, "unknown term");
        return -1;
    }
    if (op != EV_MIX && OPS[op].iface != g->iface) {
        fail(p, "term belongs to the other interface");
        return -1;
    }
    int idx = g->nnodes++;
    evolve_node *n = &g->node[idx];
    memset(n, 0, sizeof *n);
    n->op = op;
    if (op == EV_MIX) {
        char gw[8];
        if (expect(p, '(') || word(p, gw, sizeof gw) || expect(p, ':') || number(p, &n->p))
            return -1;
        n->gate = -1;
        for (int i = 0; i < EV_NGATES; i++)
            if (strcmp(gw, GATE_NAMES[i]) == 0) n->gate = i;
        if (n->gate < 0 || (n->gate != EV_GATE_CONST && g->iface != SBX_PREF)) {
            fail(p, "unknown mixture gate (w, or sig/bvar/bmean for preference)");
            return -1;
        }
        double lo = n->gate == EV_GATE_CONST ? OPS[EV_MIX].lo : 0.01;
        double hi = n->gate == EV_GATE_CONST ? OPS[EV_MIX].hi : 1.0;
        if (n->p < lo || n->p > hi) {
            fail(p, "mixture parameter out of range");
            return -1;
        }
        for (int k = 0; k < 2; k++) {
            if (expect(p, ',')) return -1;
            int kid = parse_node(p, g, depth + 1);
            if (kid < 0) return -1;
            g->node[idx].kid[k] = kid;
        }
        return expect(p, ')') ? -1 : idx;
    }
    if (OPS[op].has_param) {
        if (expect(p, '(') || number(p, &n->p) || expect(p, ')')) return -1;
        if (!in_range(&OPS[op], n->p)) {
            fail(p, "term parameter out of range");
            return -1;
        }
        if (OPS[op].step == EV_STEP_INT && n->p != floor(n->p)) {
            fail(p, "term parameter must be a whole number");
            return -1;
        }
    }
    return idx;
}

/* key=value in the header. */
static int header_value(parser *p, const char *key, double *v)
{
    skip_ws(p);
    size_t n = strlen(key);
    if (strncmp(p->s, key, n) != 0 || p->s[n] != '=') {
        char m[48];
        snprintf(m, sizeof m, "expected %s=", key);
        fail(p, m);
        return -1;
    }
    p->s += n + 1;
    return number(p, v);
}

int evolve_genome_parse(const char *text, evolve_genome *g, char *err, size_t errcap)
{
    parser p = {text, text, err, errcap, 0};
    char w[16];
    memset(g, 0, sizeof *g);
    g->ref = 1;
    g->scale = 1.0;
    g->temp = 1.0;
    if (word(&p, w, sizeof w)) return -1;
    if (strcmp(w, "pref") == 0) {
        g->iface = SBX_PREF;
        double r, s, m, c;
        skip_ws(&p);
        if (strncmp(p.s, "norm=avg", 8) == 0)
            g->lennorm = 1;
        else if (strncmp(p.s, "norm=sum", 8) != 0) {
            fail(&p, "expected norm=sum or norm=avg");
            return -1;
        }
        p.s += 8;
        if (header_value(&p, "ref", &r) || header_value(&p, "s", &s) || header_value(&p, "m", &m) ||
            header_value(&p, "c", &c))
            return -1;
        if ((r != 0 && r != 1) || s < 0.1 || s > 10 || m < -2 || m > 2 || c < 0 || c > 1) {
            fail(&p, "modifier out of range (ref 0|1, s 0.1..10, m -2..2, c 0..1)");
            return -1;
        }
        g->ref = (int)r;
        g->scale = s;
        g->margin = m;
        g->centre = c;
        skip_ws(&p);
        if (strncmp(p.s, "div=", 4) == 0) {
            p.s += 4;
            if (strncmp(p.s, "js", 2) == 0 && !islower((unsigned char)p.s[2])) {
                g->div = EV_DIV_JS;
                p.s += 2;
            } else if (strncmp(p.s, "alpha:", 6) == 0) {
                p.s += 6;
                g->div = EV_DIV_ALPHA;
                if (number(&p, &g->alpha)) return -1;
                if (g->alpha < 0.05 || g->alpha > 1) {
                    fail(&p, "div=alpha:A needs A in 0.05..1");
                    return -1;
                }
            } else {
                fail(&p, "expected div=js or div=alpha:A");
                return -1;
            }
            if (!g->ref) {
                fail(&p, "div= transforms log-ratios against the reference model: it needs ref=1");
                return -1;
            }
        }
    } else if (strcmp(w, "cls") == 0) {
        g->iface = SBX_CLS;
        if (header_value(&p, "T", &g->temp)) return -1;
        if (g->temp < 0.25 || g->temp > 4) {
            fail(&p, "temperature T out of range 0.25..4");
            return -1;
        }
        skip_ws(&p);
        if (strncmp(p.s, "M=", 2) == 0) {
            if (header_value(&p, "M", &g->cmargin)) return -1;
            if (g->cmargin < 0 || g->cmargin > 3) {
                fail(&p, "logit margin M out of range 0..3");
                return -1;
            }
        }
    } else {
        fail(&p, "expected 'pref' or 'cls'");
        return -1;
    }
    if (expect(&p, ':')) return -1;
    if (parse_node(&p, g, 1) < 0) return -1;
    skip_ws(&p);
    if (*p.s) {
        fail(&p, "unexpected text after the tree");
        return -1;
    }
    return 0;
}

int evolve_genome_from_code(const char *code, evolve_genome *g, char *err, size_t errcap)
{
    static const char tag[] = "evolve-genome:";
    const char *at = code ? strstr(code, tag) : NULL;
    if (!at) {
        snprintf(err, errcap, "no evolve-genome line in the code");
        return -1;
    }
    at += sizeof tag - 1;
    const char *end = at;
    while (*end && *end != '\n' && strncmp(end, "*/", 2) != 0)
        end++;
    char line[1024];
    size_t n = (size_t)(end - at);
    if (n >= sizeof line) {
        snprintf(err, errcap, "evolve-genome line too long");
        return -1;
    }
    memcpy(line, at, n);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        n--;
    line[n] = 0;
    char *start = line;
    while (*start == ' ')
        start++;
    return evolve_genome_parse(start, g, err, errcap);
}

static int nodes_equal(const evolve_genome *a, int i, const evolve_genome *b, int j)
{
    const evolve_node *x = &a->node[i], *y = &b->node[j];
    if (x->op != y->op || x->p != y->p) return 0;
    if (x->op != EV_MIX) return 1;
    return x->gate == y->gate && nodes_equal(a, x->kid[0], b, y->kid[0]) &&
           nodes_equal(a, x->kid[1], b, y->kid[1]);
}

int evolve_genome_equal(const evolve_genome *a, const evolve_genome *b)
{
    return a->iface == b->iface && a->nnodes == b->nnodes && a->lennorm == b->lennorm &&
           a->ref == b->ref && a->scale == b->scale && a->margin == b->margin &&
           a->centre == b->centre && a->temp == b->temp && a->div == b->div &&
           a->alpha == b->alpha && a->cmargin == b->cmargin && nodes_equal(a, 0, b, 0);
}

/* ---- tree surgery ---- */

int evolve_subtree_depth(const evolve_genome *g, int i)
{
    const evolve_node *n = &g->node[i];
    if (n->op != EV_MIX) return 1;
    int a = evolve_subtree_depth(g, n->kid[0]), b = evolve_subtree_depth(g, n->kid[1]);
    return 1 + (a > b ? a : b);
}

int evolve_subtree_size(const evolve_genome *g, int i)
{
    const evolve_node *n = &g->node[i];
    if (n->op != EV_MIX) return 1;
    return 1 + evolve_subtree_size(g, n->kid[0]) + evolve_subtree_size(g, n->kid[1]);
}

/* Copies src's subtree at i into dst (appending in prefix order); returns the new index or
 * -1 when dst is full. */
static int copy_subtree(evolve_genome *dst, const evolve_genome *src, int i)
{
    if (dst->nnodes >= EVOLVE_MAX_NODES) return -1;
    int idx = dst->nnodes++;
    dst->node[idx] = src->node[i];
    if (src->node[i].op == EV_MIX) {
        for (int k = 0; k < 2; k++) {
            int kid = copy_subtree(dst, src, src->node[i].kid[k]);
            if (kid < 0) return -1;
            dst->node[idx].kid[k] = kid;
        }
    }
    return idx;
}

static int graft_rec(evolve_genome *dst, const evolve_genome *a, int i, int at,
                     const evolve_genome *b, int from)
{
    if (i == at) return copy_subtree(dst, b, from);
    if (dst->nnodes >= EVOLVE_MAX_NODES) return -1;
    int idx = dst->nnodes++;
    dst->node[idx] = a->node[i];
    if (a->node[i].op == EV_MIX) {
        for (int k = 0; k < 2; k++) {
            int kid = graft_rec(dst, a, a->node[i].kid[k], at, b, from);
            if (kid < 0) return -1;
            dst->node[idx].kid[k] = kid;
        }
    }
    return idx;
}

int evolve_graft(const evolve_genome *a, int at, const evolve_genome *b, int from,
                 evolve_genome *out)
{
    evolve_genome r = *a;
    r.nnodes = 0;
    if (graft_rec(&r, a, 0, at, b, from) < 0) return -1;
    if (evolve_subtree_depth(&r, 0) > EVOLVE_MAX_DEPTH) return -1;
    *out = r;
    return 0;
}
