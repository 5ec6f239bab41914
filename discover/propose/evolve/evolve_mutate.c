/* evolve_mutate.c — the variation operators of the offline proposer, each reporting in
 * plain words what it changed and why (the thought the archive and the user will read). */
#include "evolve.h"

#include "sandbox/sandbox.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Why one would move a parameter up or down: [0] when raising, [1] when lowering. */
typedef struct {
    const char *param;
    const char *why[2];
} reason;

static const reason REASONS[] = {
    {"logistic slope",
     {"a steeper logistic sharpens the push on pairs near the decision boundary",
      "a flatter logistic keeps some gradient on pairs that are already well separated"}},
    {"hinge margin",
     {"a larger margin keeps training on pairs that are only narrowly right",
      "a smaller margin stops spending updates on pairs that are already right"}},
    {"exponential rate",
     {"a faster exponential punishes wrongly ranked pairs harder",
      "a slower exponential tames the exploding penalty on badly ranked pairs"}},
    {"squared-loss target",
     {"a larger target margin asks for a clearer preference",
      "a smaller target regularises harder towards the reference model"}},
    {"sigmoid slope",
     {"a steeper sigmoid separates close pairs more decisively",
      "a flatter sigmoid saturates later and keeps gradient on confident pairs"}},
    {"mixing weight",
     {"the second term should get more say in the blend",
      "the first term should get more say in the blend"}},
    {"gate temperature",
     {"a softer gate blends the two terms over a wider range of margins",
      "a sharper gate switches between the two terms more decisively"}},
    {"effective beta scale",
     {"a larger effective beta makes the loss more sensitive to the margin",
      "a smaller effective beta keeps the policy closer to the reference"}},
    {"margin offset",
     {"an offset demands a clear margin before a pair counts as won",
      "a smaller offset stops over-pushing pairs that are already won"}},
    {"batch centring",
     {"centring on the batch mean focuses the loss on pairs that trail their batch",
      "less centring keeps the absolute margin meaningful"}},
    {"label smoothing",
     {"noisy labels reward softer targets", "the labels look clean enough for sharper targets"}},
    {"focal gamma",
     {"down-weighting easy examples more focuses training on the hard ones",
      "the focal down-weighting was starving easy examples of gradient"}},
    {"generalized-CE q",
     {"a larger q is more robust to label noise (closer to MAE)",
      "a smaller q learns faster (closer to cross-entropy)"}},
    {"temperature",
     {"a higher temperature tempers overconfident logits",
      "a lower temperature sharpens the predictions"}},
    {"robust label noise",
     {"assuming more flipped preference labels makes the loss forgive contradicting pairs",
      "the preference labels look cleaner than the correction assumes"}},
    {"passive-loss weight",
     {"the passive (bounded) loss should do more of the work against label noise",
      "the active (normalized) loss should do more of the fitting"}},
    {"Taylor order",
     {"a higher order is closer to cross-entropy and fits faster",
      "a lower order is closer to MAE and more robust to label noise"}},
    {"poly epsilon",
     {"a larger first polynomial coefficient keeps pushing examples that are already fitted",
      "a smaller first polynomial coefficient eases off fitted examples"}},
    {"bootstrap weight",
     {"the given labels deserve more trust than the model's own predictions",
      "the model's own predictions should correct more of the noisy labels"}},
    {"assumed noise rate",
     {"assuming more flipped labels lets the model disagree with labels it finds implausible",
      "the labels look cleaner than the noise correction assumes"}},
    {"logit margin",
     {"a larger margin on the label's logit asks for more confident separation",
      "a smaller margin on the label's logit stops over-separating"}},
    {"divergence alpha",
     {"a larger alpha moves the constraint towards the forward KL, which covers more modes",
      "a smaller alpha moves the constraint back towards DPO's reverse KL"}},
};

static const char *why_of(const char *param, int lowered)
{
    for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++)
        if (strcmp(REASONS[i].param, param) == 0) return REASONS[i].why[lowered ? 1 : 0];
    return lowered ? "a smaller value is worth testing" : "a larger value is worth testing";
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A new value for a parameter; tries until the quantised value differs. */
static int step_param(double old, double lo, double hi, evolve_step kind, dc_rng *r, double *out)
{
    for (int tries = 0; tries < 8; tries++) {
        double z = dc_rng_normal(r), v;
        if (kind == EV_STEP_LOG) {
            v = (old > 0 ? old : lo) * exp(0.35 * z);
        } else if (kind == EV_STEP_INT) {
            double d = fmax(1.0, floor(fabs(z) + 0.5));
            v = old + (z < 0 ? -d : d);
        } else if (kind == EV_STEP_UNIT) {
            double o = clampd(old, 1e-3, 1 - 1e-3);
            v = 1.0 / (1.0 + exp(-(log(o / (1 - o)) + 0.6 * z)));
        } else {
            v = old + 0.08 * (hi - lo) * z;
        }
        v = evolve_quantize(clampd(v, lo, hi));
        if (v < lo || v > hi) continue;
        if (v != old) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Indices of nodes matching a predicate. */
static int leaves(const evolve_genome *g, int *idx)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->node[i].op != EV_MIX) idx[n++] = i;
    return n;
}

static int mixes(const evolve_genome *g, int *idx)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->node[i].op == EV_MIX) idx[n++] = i;
    return n;
}

/* Depth of node `target` (root = 1), or 0 when not found. */
static int depth_of(const evolve_genome *g, int i, int target, int d)
{
    if (i == target) return d;
    if (g->node[i].op != EV_MIX) return 0;
    int a = depth_of(g, g->node[i].kid[0], target, d + 1);
    return a ? a : depth_of(g, g->node[i].kid[1], target, d + 1);
}

static int random_leaf_op(int iface, int not_op, dc_rng *r)
{
    int ops[EV_NOPS], n = 0;
    for (int op = 1; op < EV_NOPS; op++)
        if (evolve_op_get(op)->iface == iface && op != not_op) ops[n++] = op;
    return ops[dc_rng_below(r, (uint32_t)n)];
}

static void leaf_text(int op, double p, char *buf, size_t cap)
{
    const evolve_op_info *o = evolve_op_get(op);
    if (o->has_param)
        snprintf(buf, cap, "%s(%.4g)", o->name, p);
    else
        snprintf(buf, cap, "%s", o->name);
}

/* ---- the operators ---- */

static int op_perturb(const evolve_genome *in, dc_rng *r, evolve_genome *out, char *change,
                      size_t cap)
{
    /* Candidates: every parameterised node, then the global modifiers. */
    enum { MOD_S = -1, MOD_M = -2, MOD_C = -3, MOD_T = -4, MOD_A = -5, MOD_CM = -6 };
    int cand[EVOLVE_MAX_NODES + 6], n = 0;
    for (int i = 0; i < in->nnodes; i++)
        if (evolve_op_get(in->node[i].op)->has_param) cand[n++] = i;
    if (in->iface == SBX_PREF) {
        cand[n++] = MOD_S;
        cand[n++] = MOD_M;
        cand[n++] = MOD_C;
        if (in->div == EV_DIV_ALPHA) cand[n++] = MOD_A;
    } else {
        cand[n++] = MOD_T;
        if (in->cmargin != 0.0) cand[n++] = MOD_CM;
    }
    int pick = cand[dc_rng_below(r, (uint32_t)n)];
    *out = *in;
    double *slot, lo, hi;
    evolve_step kind;
    const char *param;
    if (pick >= 0) {
        evolve_node *nd = &out->node[pick];
        const evolve_op_info *o = evolve_op_get(nd->op);
        slot = &nd->p;
        lo = o->lo;
        hi = o->hi;
        kind = o->step;
        param = o->param;
        if (nd->op == EV_MIX && nd->gate != EV_GATE_CONST) {
            lo = 0.01;
            hi = 1.0;
            kind = EV_STEP_LOG;
            param = "gate temperature";
        }
    } else if (pick == MOD_S) {
        slot = &out->scale, lo = 0.1, hi = 10, kind = EV_STEP_LOG, param = "effective beta scale";
    } else if (pick == MOD_M) {
        slot = &out->margin, lo = -2, hi = 2, kind = EV_STEP_ADD, param = "margin offset";
    } else if (pick == MOD_C) {
        slot = &out->centre, lo = 0, hi = 1, kind = EV_STEP_ADD, param = "batch centring";
    } else if (pick == MOD_A) {
        slot = &out->alpha, lo = 0.05, hi = 1, kind = EV_STEP_LOG, param = "divergence alpha";
    } else if (pick == MOD_CM) {
        slot = &out->cmargin, lo = 0.05, hi = 3, kind = EV_STEP_LOG, param = "logit margin";
    } else {
        slot = &out->temp, lo = 0.25, hi = 4, kind = EV_STEP_LOG, param = "temperature";
    }
    double old = *slot, v;
    if (step_param(old, lo, hi, kind, r, &v)) return -1;
    *slot = v;
    int lowered = v < old;
    snprintf(change, cap, "I %s the %s from %.4g to %.4g because %s",
             lowered ? "lowered" : "raised", param, old, v, why_of(param, lowered));
    return 0;
}

static int op_swap(const evolve_genome *in, dc_rng *r, evolve_genome *out, char *change, size_t cap)
{
    int idx[EVOLVE_MAX_NODES];
    int n = leaves(in, idx);
    int at = idx[dc_rng_below(r, (uint32_t)n)];
    *out = *in;
    evolve_node *nd = &out->node[at];
    int op = random_leaf_op(in->iface, nd->op, r);
    char before[64], after[64];
    leaf_text(nd->op, nd->p, before, sizeof before);
    nd->op = op;
    nd->p = evolve_op_get(op)->has_param ? evolve_op_get(op)->def : 0.0;
    leaf_text(nd->op, nd->p, after, sizeof after);
    snprintf(change, cap, "I swapped the %s term for %s because %s may shape the gradient better",
             before, after, evolve_op_get(op)->what);
    return 0;
}

static int op_add(const evolve_genome *in, dc_rng *r, evolve_genome *out, char *change, size_t cap)
{
    if (in->nnodes + 2 > EVOLVE_MAX_NODES) return -1;
    int idx[EVOLVE_MAX_NODES], fit[EVOLVE_MAX_NODES], nf = 0;
    int n = leaves(in, idx);
    for (int i = 0; i < n; i++)
        if (depth_of(in, 0, idx[i], 1) + 1 <= EVOLVE_MAX_DEPTH) fit[nf++] = idx[i];
    if (nf == 0) return -1;
    int at = fit[dc_rng_below(r, (uint32_t)nf)];
    int op = random_leaf_op(in->iface, in->node[at].op, r);
    /* The new mixture as a tiny genome: mix(gate, old leaf, new leaf), grafted in place. */
    evolve_genome m = *in;
    m.nnodes = 3;
    m.node[0] = (evolve_node){EV_MIX, EV_GATE_CONST, 0.3, {1, 2}};
    m.node[1] = in->node[at];
    m.node[2] =
        (evolve_node){op, 0, evolve_op_get(op)->has_param ? evolve_op_get(op)->def : 0.0, {0, 0}};
    const char *gate_words = "with constant weight 0.3";
    if (in->iface == SBX_PREF) {
        double u = dc_rng_uniform(r);
        if (u < 0.25) {
            m.node[0].gate = EV_GATE_SIG;
            m.node[0].p = 0.05;
            gate_words = "through a sigmoid gate on the margin (temperature 0.05), as LRML does";
        } else if (u < 0.4) {
            m.node[0].gate = EV_GATE_BVAR;
            m.node[0].p = 0.05;
            gate_words = "through a gate on the batch variance of the margin, as DBAQL does";
        } else if (u < 0.5) {
            m.node[0].gate = EV_GATE_BMEAN;
            m.node[0].p = 0.05;
            gate_words = "through a gate on the batch mean of the margin, as AQL does";
        }
    }
    if (evolve_graft(in, at, &m, 0, out)) return -1;
    char before[64], added[64];
    leaf_text(in->node[at].op, in->node[at].p, before, sizeof before);
    leaf_text(m.node[2].op, m.node[2].p, added, sizeof added);
    snprintf(change, cap,
             "I added %s next to the %s term, mixed in %s, because blending two loss shapes "
             "often beats either alone",
             added, before, gate_words);
    return 0;
}

static int op_remove(const evolve_genome *in, dc_rng *r, evolve_genome *out, char *change,
                     size_t cap)
{
    int idx[EVOLVE_MAX_NODES];
    int n = mixes(in, idx);
    if (n == 0) return -1;
    int at = idx[dc_rng_below(r, (uint32_t)n)];
    int keep = (int)dc_rng_below(r, 2);
    if (evolve_graft(in, at, in, in->node[at].kid[keep], out)) return -1;
    char kept[512], dropped[512];
    evolve_subtree_format(in, in->node[at].kid[keep], kept, sizeof kept);
    evolve_subtree_format(in, in->node[at].kid[1 - keep], dropped, sizeof dropped);
    snprintf(change, cap,
             "I removed the %s term and kept %s alone because a simpler loss is easier to "
             "tune and the extra term may only add noise",
             dropped, kept);
    return 0;
}

/* Classification's modifier: an additive margin on the label's logit (on or off). */
static int op_cls_modifier(const evolve_genome *in, evolve_genome *out, char *change, size_t cap)
{
    *out = *in;
    out->cmargin = in->cmargin != 0.0 ? 0.0 : 0.5;
    snprintf(change, cap, "%s",
             out->cmargin != 0.0
                 ? "I added a margin of 0.5 against the label's logit (an additive margin, as "
                   "CosFace and AM-softmax do) because it asks each example to win by more"
                 : "I removed the margin on the label's logit because it may be over-separating "
                   "noisy examples");
    return 0;
}

/* The preference margin's f-divergence (f-DPO): reverse KL (DPO) -> Jensen-Shannon ->
 * alpha 0.5 -> reverse KL. */
static int op_divergence(const evolve_genome *in, evolve_genome *out, char *change, size_t cap)
{
    *out = *in;
    out->ref = 1; /* the transforms act on log-ratios against the reference */
    if (in->div == EV_DIV_RKL || !in->ref) {
        out->div = EV_DIV_JS;
        out->alpha = 0.0;
        snprintf(change, cap, "I switched the log-ratios to the Jensen-Shannon transform of "
                              "f-DPO because a bounded divergence may keep the policy nearer the "
                              "reference where the margin is large");
    } else if (in->div == EV_DIV_JS) {
        out->div = EV_DIV_ALPHA;
        out->alpha = 0.5;
        snprintf(change, cap, "I switched the log-ratios to f-DPO's alpha-divergence transform "
                              "(alpha 0.5) because it sits between the reverse and forward KL");
    } else {
        out->div = EV_DIV_RKL;
        out->alpha = 0.0;
        snprintf(change, cap, "I switched back to DPO's reverse-KL log-ratios because the "
                              "f-divergence transform may only add curvature");
    }
    return 0;
}

static int op_modifier(const evolve_genome *in, dc_rng *r, evolve_genome *out, char *change,
                       size_t cap)
{
    if (in->iface != SBX_PREF) return op_cls_modifier(in, out, change, cap);
    *out = *in;
    double u = dc_rng_uniform(r);
    if (u >= 0.85) return op_divergence(in, out, change, cap);
    u /= 0.85; /* the older switches keep their proportions among themselves */
    if (u < 0.5) {
        out->lennorm = !in->lennorm;
        snprintf(change, cap, "%s",
                 out->lennorm
                     ? "I switched to per-token averaged log-probs (as SimPO and IPO do) because "
                       "summed log-probs let response length dominate the margin"
                     : "I switched back to summed log-probs because per-token averages "
                       "blur the signal of long responses");
    } else if (u < 0.8) {
        out->centre = in->centre != 0.0 ? 0.0 : 0.5;
        snprintf(change, cap, "%s",
                 out->centre != 0.0
                     ? "I centred the margin on half its batch mean because it focuses "
                       "the loss on pairs that trail their batch"
                     : "I removed the batch centring because the absolute margin "
                       "carries the signal");
    } else {
        out->ref = !in->ref;
        out->div = EV_DIV_RKL; /* the transforms need the reference */
        out->alpha = 0.0;
        snprintf(change, cap, "%s",
                 out->ref ? "I brought the reference model back into the margin because it anchors "
                            "the policy against drift"
                          : "I dropped the reference model from the margin (as SimPO does) because "
                            "the reference may be holding the policy back");
    }
    return 0;
}

int evolve_mutate(const evolve_genome *in, dc_rng *r, evolve_genome *out, char *change, size_t cap)
{
    /* Structural moves (swap, add a term) are as common as parameter moves: campaigns are
     * short (a demo has 8 generations), and the seeds' families (cross-entropy, smoothing,
     * squared error, focal) only reach the robust terms (gce, rce) by a structural step.
     * Measured in bench/RESULTS-outer.md. */
    double u = dc_rng_uniform(r);
    if (u < 0.30) return op_perturb(in, r, out, change, cap);
    if (u < 0.52) return op_swap(in, r, out, change, cap);
    if (u < 0.74) return op_add(in, r, out, change, cap);
    if (u < 0.87) return op_remove(in, r, out, change, cap);
    return op_modifier(in, r, out, change, cap);
}

int evolve_crossover(const evolve_genome *a, const evolve_genome *b, dc_rng *r, evolve_genome *out,
                     char *change, size_t cap)
{
    if (a->iface != b->iface) return -1;
    char ta[512], tb[512];
    if (dc_rng_uniform(r) < 0.5) {
        /* Blend: mix(w:0.5, A's tree, a subtree of B), built as a mixture of two placeholder
         * leaves whose places then receive the real subtrees. */
        int from = (int)dc_rng_below(r, (uint32_t)b->nnodes);
        int idx[EVOLVE_MAX_NODES];
        leaves(a, idx);
        evolve_genome t = *a, with_a;
        t.nnodes = 3;
        t.node[0] = (evolve_node){EV_MIX, EV_GATE_CONST, 0.5, {1, 2}};
        t.node[1] = a->node[idx[0]];
        t.node[2] = a->node[idx[0]];
        if (evolve_graft(&t, 1, a, 0, &with_a)) return -1;
        if (evolve_graft(&with_a, with_a.node[0].kid[1], b, from, out)) return -1;
        evolve_subtree_format(a, 0, ta, sizeof ta);
        evolve_subtree_format(b, from, tb, sizeof tb);
        if (strcmp(ta, tb) == 0) return -1; /* a blend of a term with itself changes nothing */
        snprintf(change, cap,
                 "I blended the first parent's %s half and half with the second parent's %s "
                 "because each did well and their strengths may add up",
                 ta, tb);
        return 0;
    }
    /* Graft: replace a random subtree of A by a random subtree of B. */
    int at = (int)dc_rng_below(r, (uint32_t)a->nnodes);
    int from = (int)dc_rng_below(r, (uint32_t)b->nnodes);
    if (evolve_graft(a, at, b, from, out)) return -1;
    evolve_subtree_format(a, at, ta, sizeof ta);
    evolve_subtree_format(b, from, tb, sizeof tb);
    if (strcmp(ta, tb) == 0) return -1;
    snprintf(change, cap,
             "I took the first parent and replaced its %s with the second parent's %s "
             "because that part of the second parent may explain its fitness",
             ta, tb);
    return 0;
}
