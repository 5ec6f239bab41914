/* evolve_token.h — evolve's token-level grammar (SBX_TOKEN_PREF, token_pref_batch).
 *
 * A token-level genome is a sequence-level preference genome (evolve.h: the pair loss f(x)
 * and its modifiers) plus per-token weight genes. Each response token j gets a weight
 *
 *     w_j = w_sim(sim_j) · w_lr(d_j) · w_pos(u_j)
 *     w_sim = LO + (HI − LO)·σ((A − sim_j)/T)        AAO-like: ambiguous (similar) tokens get
 *                                                     LO, key (dissimilar) tokens get HI
 *     w_lr  = (1 − K) + K·2σ(∓d_j/R)                  d_j = β·(log π_θ − log π_ref) of the token;
 *                                                     chosen tokens the policy still lags and
 *                                                     rejected tokens it still favours count more
 *     w_pos = 1 + P·(2u_j − 1)                        u_j = (t + ½)/len: P > 0 favours late tokens
 *
 * and the pair's inputs to the sequence-level loss are the weighted sums Σ w_j·log π (policy
 * and reference), with Σ w_j as the length (so norm=avg is a weighted mean). With every gene
 * off (LO = HI = 1, K = 0, P = 0) this is the sequence-level loss on summed log-probs, i.e.
 * DPO per token for logistic(1). Every factor is bounded below by a positive constant, so
 * Σ w_j > 0. The genes are kept in a second comment line of the code:
 *
 *     /" evolve-token: sim=0.5,0.05,0.5,1.5 lr=0,1 pos=0 "/
 *
 * A candidate without that line (evolve's token candidates before these genes existed) reads
 * as every gene off. */
#ifndef DC_EVOLVE_TOKEN_H
#define DC_EVOLVE_TOKEN_H

#include "evolve.h"

typedef struct {
    double sim_a, sim_t, sim_lo, sim_hi; /* off when sim_lo == sim_hi == 1 */
    double lr_k, lr_t;                   /* off when lr_k == 0 */
    double pos;                          /* off when 0 */
} evolve_token_genes;

typedef struct {
    evolve_genome seq; /* iface SBX_PREF: the pair loss */
    evolve_token_genes tok;
} evolve_token_genome;

/* Every gene off. */
void evolve_token_genes_off(evolve_token_genes *t);
/* The text form after "evolve-token:"; 0, or -1 when cap is too small. */
int evolve_token_genes_format(const evolve_token_genes *t, char *buf, size_t cap);
/* Parses the text form; 0, or -1 with a message (values out of range are errors). */
int evolve_token_genes_parse(const char *text, evolve_token_genes *t, char *err, size_t errcap);
/* Both lines from candidate code (a missing token line reads as genes off); -1 with a
 * message when there is no preference genome line. */
int evolve_token_from_code(const char *code, evolve_token_genome *g, char *err, size_t errcap);
/* The objective C file (heap string) for token_pref_batch. */
char *evolve_token_render(const evolve_token_genome *g, const char *name);
/* The candidate name evolve gives a token-level genome ("tok_sim_logistic_1a2b"). */
void evolve_token_name(const evolve_token_genome *g, char *buf, size_t cap);

/* evolve_propose for SBX_TOKEN_PREF (same contract). */
int evolve_token_propose(const evolve_parent *pool, int npool, dc_rng *rng, evolve_proposal *out,
                         char *err, size_t errcap);
int evolve_token_seed_count(void);
int evolve_token_seed(int i, evolve_proposal *out);

#endif
