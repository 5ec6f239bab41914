/* evolve.h — the offline proposer: new candidate objectives by mutation and crossover over a
 * small grammar of objective building blocks, no network and no API key.
 *
 * A candidate's genome is a small expression tree (at most EVOLVE_MAX_NODES nodes, depth 3)
 * of loss terms ("leaves") and convex mixtures, plus a few global modifiers. It is rendered to
 * an objective C file whose first line holds the genome in one line:
 *
 *     /" evolve-genome: pref norm=sum ref=1 s=1 m=0 c=0 : mix(sig:0.05,logistic(1),exp(1)) "/
 *
 * (with real comment delimiters) so that parents coming back from the archive can be parsed
 * again. Only code with that line can be an evolve parent.
 *
 * Preference leaves are functions of x = s·β·ρ − m − c·mean_batch(s·β·ρ − m), where ρ is the
 * chosen minus the rejected transformed log-ratio φ(r_w) − φ(r_l) (per-token averages when
 * norm=avg; without the reference model when ref=0; φ(r) = r unless div= says otherwise):
 *   logistic(a) log(1+e^(−a·x))   hinge(m) max(0, m − x)   exp(a) e^(−a·x) (argument capped)
 *   sq(c) ((x − c)/β)²            sigm(a) 1 − σ(a·x)
 *   robust(ε) ((1−ε)·log(1+e^−x) − ε·log(1+e^x)) / (1 − 2ε)          (TRL "robust")
 *   bco  log(1+e^−(u_w−δ)) + log(1+e^(u_l−δ)), u = s·β·φ(r), δ = mean_batch(u_w, u_l)
 *                                                                     (TRL "bco_pair")
 *   aot  aotp  mean over the batch of log(1+e^−(S_(r) − T_(r))), S and T sorted separately:
 *        aotp S = u_w, T = u_l; aot S = s·β·(log π_w − log π_l), T the same of π_ref
 *        (TRL "aot_pair", "aot"); every pair gets the batch's value
 * Divergence modifier div= (f-DPO, Wang et al. 2023; TRL f_divergence_type): rkl φ(r) = r
 * (DPO, the default, not written), js φ(r) = log σ(r), alpha:A φ(r) = −e^(−A·r)/A (A = 1 is
 * the forward KL); only with ref=1.
 * Classification leaves act on log-softmax(z'/T), z' the logits with M subtracted from the
 * label's (an additive margin, written only when M ≠ 0):
 *   ce  −log p_y     ls(ε) label smoothing     sqerr Σ(p − onehot)²     focal(γ)
 *   gce(q) (1 − p_y^q)/q           rce  −log(1e-4)·(1 − p_y)   (reverse cross-entropy)
 *   nce  −log p_y / Σ_j −log p_j   mae  Σ|p − onehot| = 2(1 − p_y)
 *   ncerce(b) nce + b·rce          ncemae(b) nce + b·mae       (active-passive losses)
 *   taylor(t) Σ_{i=1..t} (1 − p_y)^i / i      poly(ε) −log p_y + ε(1 − p_y)
 *   sboot(b) b·(−log p_y) + (1 − b)·H(p)      hboot(b) −b·log p_y − (1 − b)·max_j log p_j
 *   fwd(η) −log((1 − η)·p_y + η/(k − 1)·(1 − p_y))  (forward correction for symmetric noise η)
 * Mixtures: mix(w:W,A,B) = (1−W)·A + W·B; preference only: mix(sig:τ,A,B) with W = σ(x/τ)
 * (the LRML gate), mix(bvar:τ,A,B) with W = σ(Var_batch(x/τ)) (the DBAQL gate) and
 * mix(bmean:τ,A,B) with W = σ(mean_batch(x/τ)) (AQL's gate). x in the gates is before
 * centring. Every term's source is in discover/propose/evolve/GRAMMAR.md.
 *
 * Every rendered candidate carries its analytic gradient (objective_grad); the sandbox
 * checks it against central differences before training with it. */
#ifndef DC_EVOLVE_H
#define DC_EVOLVE_H

#include "common/candidate_text.h"
#include "common/rng.h"
#include "sandbox/sandbox.h"

#include <stddef.h>
#include <stdint.h>

/* ---- the proposer (what the outer loop calls) ---- */

typedef struct {
    int64_t id;
    const char *name;
    const char *code;
    const char *status; /* "ok" for a scored candidate */
    int has_fitness;
    double fitness;
} evolve_parent;

typedef struct {
    dc_candidate_text text;
    int64_t parents[2];
    int nparents;
} evolve_proposal;

/* interface: SBX_PREF, SBX_CLS or SBX_TOKEN_PREF (sandbox/sandbox.h; token-level pairs have
 * their own grammar around the preference one, evolve_token.h). pool: archived candidates of
 * the campaign (any status). Parents are chosen by tournament among scored ("ok") candidates
 * whose code carries a genome line of this interface; with some probability two parents are
 * crossed, and with probability EVOLVE_IMMIGRANT_P the proposal is a random immigrant (a
 * fresh draw, no parent; pref and cls only). With no usable parent it proposes the first built-in seed not yet in the pool,
 * then mutations of the seeds. Never returns code identical to a pool member's unless every
 * retry collided. Deterministic for a given rng state and pool. Returns 0, or -1 with a
 * message (bad interface). */
int evolve_propose(sbx_kind interface, const evolve_parent *pool, int npool, dc_rng *rng,
                   evolve_proposal *out, char *err, size_t errcap);
void evolve_proposal_free(evolve_proposal *p);

/* The control of the search (`--proposer random`): one genome drawn from the grammar with
 * no parent (evolve_random.c: the tree shape, every term, parameter and modifier drawn
 * independently), rendered like evolve's candidates. Retries a draw whose code is already in
 * the pool. Deterministic for a given rng state and pool. Returns 0, or -1 with a message
 * (bad interface). SBX_TOKEN_PREF draws a token-level genome (evolve_token.h: the pair loss
 * and the three token-weight factors), the grammar evolve_propose searches for it. */
int evolve_random(sbx_kind interface, const evolve_parent *pool, int npool, dc_rng *rng,
                  evolve_proposal *out, char *err, size_t errcap);

/* evolve's random immigrant (Grefenstette 1992): the same draw as evolve_random with a
 * thought that says so; evolve_propose makes one with probability EVOLVE_IMMIGRANT_P once it
 * has scored parents. */
#define EVOLVE_IMMIGRANT_P 0.2
int evolve_immigrant(sbx_kind interface, const evolve_parent *pool, int npool, dc_rng *rng,
                     evolve_proposal *out, char *err, size_t errcap);

/* Built-in seed genomes rendered as candidates (used when the pool has no usable parent):
 * preference dpo, slic_hinge, ipo, sigmoid_pair (KTO-like saturating loss); classification
 * cross_entropy, label_smoothing, squared_error, focal. evolve_seed returns 0, or -1 when
 * the interface or index is out of range. */
int evolve_seed_count(sbx_kind interface);
int evolve_seed(sbx_kind interface, int i, evolve_proposal *out);

/* ---- the genome (exposed for tests and for `discover show`) ---- */

#define EVOLVE_MAX_NODES 7
#define EVOLVE_MAX_DEPTH 3

typedef enum {
    EV_MIX = 0,
    /* preference leaves */
    EV_LOGISTIC,
    EV_HINGE,
    EV_EXP,
    EV_SQ,
    EV_SIGM,
    /* classification leaves */
    EV_CE,
    EV_LS,
    EV_SQERR,
    EV_FOCAL,
    EV_GCE,
    EV_RCE,
    /* added with the literature grammar (GRAMMAR.md); new terms go at the end so the
     * numbering of older ones never changes */
    EV_ROBUST,
    EV_BCO,
    EV_NCE,
    EV_MAE,
    EV_NCERCE,
    EV_NCEMAE,
    EV_TAYLOR,
    EV_POLY,
    EV_SBOOT,
    EV_HBOOT,
    EV_AOT,
    EV_AOTP,
    EV_FWD,
    EV_NOPS
} evolve_op;

typedef enum { EV_GATE_CONST = 0, EV_GATE_SIG, EV_GATE_BVAR, EV_GATE_BMEAN, EV_NGATES } evolve_gate;

/* The f-divergence of the preference margin (evolve_genome.div). */
typedef enum { EV_DIV_RKL = 0, EV_DIV_JS, EV_DIV_ALPHA } evolve_div;

typedef struct {
    int op;     /* evolve_op */
    int gate;   /* mixtures: evolve_gate */
    double p;   /* leaf parameter, or the mixture's weight (const) / temperature τ (gates) */
    int kid[2]; /* mixtures: node indices of A and B */
} evolve_node;

typedef struct {
    int iface; /* SBX_PREF or SBX_CLS */
    int nnodes;
    evolve_node node[EVOLVE_MAX_NODES]; /* node[0] is the root; prefix order */
    /* preference modifiers */
    int lennorm;   /* 1: per-token averaged log-probs */
    int ref;       /* 1: log-ratios against the reference model; 0: policy log-probs only */
    double scale;  /* s */
    double margin; /* m */
    double centre; /* c: fraction of the batch mean subtracted */
    int div;       /* evolve_div: φ applied to each log-ratio (ref=1 only) */
    double alpha;  /* div=alpha: its A in [0.05, 1] */
    /* classification modifiers */
    double temp;    /* T: logits divided by T */
    double cmargin; /* M: subtracted from the label's logit before the softmax, 0..3 */
} evolve_genome;

/* A single-leaf genome with default modifiers. */
void evolve_genome_leaf(evolve_genome *g, int iface, int op, double p);
/* The one-line text form (without the comment markers); 0, or -1 when cap is too small. */
int evolve_genome_format(const evolve_genome *g, char *buf, size_t cap);
/* Parses the text form; 0, or -1 with a message naming what is wrong. */
int evolve_genome_parse(const char *text, evolve_genome *g, char *err, size_t errcap);
/* Finds the "evolve-genome:" line in candidate code and parses it; -1 when absent/invalid. */
int evolve_genome_from_code(const char *code, evolve_genome *g, char *err, size_t errcap);
/* 1 when structurally and numerically identical. */
int evolve_genome_equal(const evolve_genome *a, const evolve_genome *b);
/* Renders the genome to an objective C file (heap string) whose first line is the genome
 * comment and whose second names the candidate. */
char *evolve_render(const evolve_genome *g, const char *name);
/* The same without the preference objective_grad (a prefix of evolve_render's text): what
 * the token-level wrappers turn into a static helper. Classification: as evolve_render. */
char *evolve_render_seq(const evolve_genome *g, const char *name);
/* Renders the same loss as PyTorch tensor operations (heap string of Python; NULL when the
 * genome's text form would not fit): comment lines with the formula, the helpers it uses,
 * and one function
 *     preference:      _objective(pc, pr, rc, rr, beta, lw, ll)
 *     classification:  _objective(logits, labels)
 * returning one loss per pair or row. The module around it (discover export --format
 * pytorch) imports torch, checks the arguments (beta a float, lengths tensors, labels int64
 * in range) and defines the public `loss`. In float64 it agrees with evolve_render's C to
 * rounding; its autograd slopes equal central differences' also where training starts
 * (x = 0: logistic, sigmoid, and the hinge's kink at margin 0). */
char *evolve_render_torch(const evolve_genome *g);

/* ---- shared by evolve*.c (internal) ---- */

/* A candidate's name from its genome: its leaves, modifiers and a short hash of the line. */
void evolve_genome_name(const evolve_genome *g, char *buf, size_t cap);
/* 1 when some pool member has exactly this code. */
int evolve_in_pool(const evolve_parent *pool, int npool, const char *code);

/* How a parameter moves: log scale, additive, logit scale (weights in (0, 1)), or by whole
 * steps (an integer order: the Taylor series' t). */
typedef enum { EV_STEP_LOG, EV_STEP_ADD, EV_STEP_UNIT, EV_STEP_INT } evolve_step;

typedef struct {
    const char *name; /* grammar token: "logistic" */
    int iface;        /* SBX_PREF / SBX_CLS; -1 for mix */
    int has_param;
    double def, lo, hi; /* parameter default and clamp range */
    evolve_step step;   /* how a perturbation moves it */
    const char *param;  /* what the parameter is, for thoughts: "logistic slope" */
    const char *what;   /* what the term is, for thoughts */
} evolve_op_info;

const evolve_op_info *evolve_op_get(int op);
/* The name of a mixture gate in the text form ("w", "sig", "bvar", "bmean"). */
const char *evolve_gate_name(int gate);
/* Rounds to the 4 significant digits the text form keeps, so render/parse round-trips. */
double evolve_quantize(double v);
/* Depth of the subtree at node i (a leaf is 1) and its node count. */
int evolve_subtree_depth(const evolve_genome *g, int i);
int evolve_subtree_size(const evolve_genome *g, int i);
/* out = a with the subtree at node `at` replaced by b's subtree at node `from`, renumbered in
 * prefix order. 0, or -1 when the result would exceed the size or depth limits. */
int evolve_graft(const evolve_genome *a, int at, const evolve_genome *b, int from,
                 evolve_genome *out);
/* One term's text ("logistic(1)", "mix(w:0.3,ce,sqerr)") into buf: 0, or -1 (buf "") when
 * it does not fit in cap. */
int evolve_subtree_format(const evolve_genome *g, int i, char *buf, size_t cap);
/* One random operator (perturb a parameter, swap a term, add a term, remove a term, switch
 * a modifier) applied to `in`. `change` receives what changed and why, as a clause for the
 * thought ("raised the label smoothing from 0.1 to 0.16 because ..."). 0, or -1 when the
 * drawn operator could not change anything (the caller draws again). */
int evolve_mutate(const evolve_genome *in, dc_rng *r, evolve_genome *out, char *change, size_t cap);
/* A child taking a subtree from each parent (same interface). Same contract as mutate. */
int evolve_crossover(const evolve_genome *a, const evolve_genome *b, dc_rng *r, evolve_genome *out,
                     char *change, size_t cap);

#endif
