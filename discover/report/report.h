/* report.h — `discover report`: one self-contained HTML page (inline SVG + CSS, a small
 * inline script) that shows a campaign at a glance.
 *
 * The work is split by job:
 *   report_data.c      gather everything from the archive (campaign choice, candidates,
 *                      LLM calls, the focus candidate's curves, β-sweep evaluations)
 *   report_frontier.c  reward-vs-KL points from evaluation/candidate metrics JSON
 *   report_pref.c      f(x) and f'(x) of preference objectives, computed IN THE SANDBOX
 *   report_svg.c       plotting primitives (axes, ticks, paths, points, downsampling)
 *   report_plots.c     the charts of the page (search progress, losses, frontier, curves, LLM)
 *   report_confirm.c   search fitness against confirmed fitness (discover confirm)
 *   report_tokens.c    token-level tasks: one held-out pair coloured by each objective's
 *                      effective per-token weight, computed IN THE SANDBOX
 *   report_timeline.c  the evaluator timeline (a row per evaluator, one for LLM calls)
 *   report_html.c      escaping, number formatting, page skeleton, candidate table
 * Nothing here runs candidate code in this process: report_pref.c and report_tokens.c go
 * through sandbox.h. */
#ifndef DC_REPORT_H
#define DC_REPORT_H

#include "archive/archive.h"
#include "inner_loop/task_metric.h"
#include "sandbox/sandbox.h"
#include "common/util.h"

#include <stdint.h>

/* Above this many points a scatter plot is aggregated into screen-space bins (one disc
 * per occupied cell and status, sized by count) so the page stays light. */
#define RP_MAX_SCATTER 1500
/* Line charts keep at most this many points (min/max per bucket, so spikes survive). */
#define RP_MAX_LINE 400
/* The candidate table lays out this many rows at first (the best by the current sort);
 * a button shows the rest. Laying out thousands of rows costs the browser seconds. */
#define RP_TABLE_PAGE 200
/* Preference loss plots: the best this many candidates (plus DPO's reference). */
#define RP_LOSS_CANDIDATES 4
/* Grids of the loss plots: x = βρ over [XMIN, XMAX] (the wide view), and the DiscoPOP
 * paper's view of LRML, ρ over [XMIN, XMAX] at β = RP_LOSS_BETA (x in [−0.5, 0.5]), where
 * LRML's local minimum (ρ ≈ −2.37) and maximum (ρ ≈ 1.44) show. */
#define RP_LOSS_XMIN (-10.0)
#define RP_LOSS_XMAX 10.0
#define RP_LOSS_N 201
#define RP_LOSS_BETA 0.05
/* Frontier: at most this many candidates (DPO's always included when present). */
#define RP_FRONTIER_CANDIDATES 6
#define RP_MAX_BETAS 16

/* One objective's loss over the x grid (computed in the sandbox, or DPO's analytic
 * reference). Non-finite values are left as NaN and skipped when plotting. */
typedef struct {
    int64_t cand_id; /* 0 for the analytic DPO reference */
    char name[96];
    double x[RP_LOSS_N], f[RP_LOSS_N], df[RP_LOSS_N];       /* wide view: x, f(x), f'(x) */
    double rho[RP_LOSS_N], rf[RP_LOSS_N], rdf[RP_LOSS_N]; /* paper view: ρ, f(βρ), f'(βρ) */
} rp_loss;

/* A candidate whose loss could not be plotted, and why (for the caption). */
typedef struct {
    int64_t cand_id;
    char name[96];
    char why[256];
} rp_loss_fail;

/* One candidate's reward-vs-KL frontier: per β, the mean over its evaluations. */
typedef struct {
    int64_t cand_id;
    char name[96];
    int is_dpo;
    int n;                     /* number of β values */
    double beta[RP_MAX_BETAS]; /* ascending */
    double reward[RP_MAX_BETAS], kl[RP_MAX_BETAS];
    int samples[RP_MAX_BETAS]; /* evaluations averaged into each point */
    int is_bon;                /* the best-of-N baseline: beta[] holds N */
} rp_frontier;

/* The token-weight figure: a response has at most this many tokens (a longer archived pair
 * is not drawn), and the colour saturates at weights beyond ±RP_WEIGHT_SPAN. */
#define RP_PAIR_MAX_TOKENS 256
#define RP_WEIGHT_SPAN 2.0

/* One response of the held-out pair (inner_loop/task.h: token_pair_metric). */
typedef struct {
    int n;         /* tokens */
    char **tokens; /* their text */
    double *ref;   /* log π_ref per token */
    double *sim;   /* similarity to the other response per token */
    double reward; /* the task's reward of the response; NAN when not archived */
} rp_pair_side;

typedef struct {
    int64_t from_id; /* the candidate whose metrics held it */
    double beta;
    char *prompt;
    rp_pair_side side[2]; /* chosen, rejected */
} rp_token_pair;

/* One objective's effective weights on the pair. */
typedef struct {
    int64_t cand_id;
    char name[96];
    int is_dpo;
    int after_dpo;    /* the best candidate other than DPO's, which is better */
    int failed;       /* the sandbox call failed: why says how */
    double *w[2];     /* per token of each side: gradient / DPO's gradient */
    double *grad[2];  /* d loss / d log π per token */
    char why[256];
} rp_token_row;

typedef struct {
    const char *campaign;  /* NULL: the only one, or the most recent */
    const char *archive;   /* path */
    int64_t candidate;     /* 0: the best by fitness */
} rp_options;

typedef struct {
    arc_campaign camp;
    char campaign_note[256]; /* how the campaign was chosen, for the header */
    int ncampaigns;
    arc_candidate *cands; /* with code and thought, id order */
    int ncands;
    arc_llm_call *calls;
    int ncalls;
    arc_candidate focus; /* with curves */
    int has_focus;
    char focus_note[160];
    /* Preference campaigns only (sequence- or token-level). */
    int is_pref;                  /* the task's objectives are preference losses */
    sbx_kind kind;                /* their interface: SBX_PREF or SBX_TOKEN_PREF */
    const char *reference;        /* the task's reference baseline ("dpo"; NULL: none) */
    const dc_metric_def *metrics; /* the task's metric schema (NULL: unknown task) */
    rp_loss *losses; /* [0] is DPO's reference when nlosses > 0 */
    int nlosses;
    rp_loss_fail *loss_fails;
    int nloss_fails;
    char loss_note[256]; /* why there are no loss plots, when there are none */
    rp_frontier *fronts;
    int nfronts;
    rp_frontier bon; /* best-of-N from π_ref over the same runs (bon.n == 0: none recorded) */
    rp_frontier tq;  /* Transfer Q* decoding from π_ref, one point per α */
    rp_frontier ppo; /* PPO from π_ref (a task baseline), one point per KL coefficient */
    /* The value-drift overlay: the task's drift-curve schema, and DPO's candidate with its
     * curves when it is not the focus (has_dpo). */
    const dc_curve_def *drift_curves;
    arc_candidate dpo;
    int has_dpo;
    int focus_is_dpo; /* the focus is DPO's candidate itself */
    /* Token-level tasks: the held-out pair (task's token_pair_metric; NULL: none) and the
     * effective weights of the best candidate and DPO's on it (report_tokens.c). */
    const char *pair_metric;
    rp_token_pair pair;
    int has_pair;
    rp_token_row pair_rows[2];
    int npair_rows;
    char pair_note[256]; /* why there is no pair, or no second row */
    /* Confirmations (discover confirm), best mean confirmed fitness first. */
    arc_confirmed *confirmed;
    int nconfirmed;
} rp_data;

/* ---- report_data.c ---- */
/* Fills d from the archive. -1 with a message (unknown campaign lists the existing ones,
 * unknown candidate, archive errors). */
int rp_gather(archive *a, const rp_options *o, rp_data *d, char *err, size_t errcap);
void rp_data_free(rp_data *d);
/* Index of the best candidate by fitness (finite only), -1 when none. */
int rp_best_index(const arc_candidate *c, int n);

/* ---- report_frontier.c ---- */
/* Adds the (parameter, reward, kl) points of frontier `series` ("trained", "best_of_n",
 * "transfer_q", "ppo") found in one metrics object to f (summing; call rp_frontier_finish to
 * average), as the task's metric schema names them. For "trained" a flat {"reward", "kl"}
 * with β taken from params_json's "beta" (or the metrics' own "beta") is accepted too.
 * Returns the number of points added. */
int rp_frontier_add(rp_frontier *f, const dc_metric_def *schema, const char *series,
                    const char *metrics_json, const char *params_json);
/* Turns the sums into means and sorts by β. */
void rp_frontier_finish(rp_frontier *f);

/* ---- report_pref.c ---- */
/* DPO's loss f(x) = log(1 + e^−x) and f'(x) over the grid, computed here (trusted code). */
void rp_loss_dpo_reference(rp_loss *out);
/* Runs one candidate's code (interface kind: SBX_PREF, or SBX_TOKEN_PREF with one token per
 * response, similarity 0.5 on both) in the sandbox on the x sweep (ref log-probs 0,
 * rejected 0, chosen = x/β, lengths 1, β = RP_LOSS_BETA); df = d_chosen/β. 0 on success, -1
 * with a message (the sandbox's status and message) when it failed. */
int rp_loss_sandbox(sbx_kind kind, const char *code, rp_loss *out, char *why, size_t whycap);
/* Fills d->losses / d->loss_fails for the best few ok candidates of d. */
void rp_compute_losses(rp_data *d);

/* ---- report_tokens.c ---- */
/* Reads the held-out pair stored under `key` in a metrics object (at its top level or in
 * its first "per_seed" entry that has it). 0, or -1 when absent or malformed. */
int rp_token_pair_parse(const char *metrics_json, const char *key, rp_token_pair *out);
void rp_token_pair_free(rp_token_pair *p);
/* One candidate's code on the pair in the sandbox (a batch of one pair, policy log-probs =
 * π_ref's, sbx_token_eval): grad[s][t] = d loss / d log π of token t of side s (chosen 0,
 * rejected 1), w[s][t] its effective weight, the gradient divided by DPO's for the same
 * token and inputs (−β·σ(−βΔ) chosen, +β·σ(−βΔ) rejected). 0, or -1 with why. */
int rp_token_weights(const char *code, const rp_token_pair *p, double *w[2], double *grad[2],
                     char *why, size_t whycap);
/* Fills d->pair and d->pair_rows: the best candidate other than DPO's, then DPO's (the
 * task's reference baseline). */
void rp_compute_token_weights(rp_data *d);
void rp_token_rows_free(rp_data *d);
/* The figure: each row's pair as text, every token's background its weight. Nothing for
 * tasks without a token_pair_metric. */
void rp_plot_token_weights(dc_sb *b, const rp_data *d);

/* ---- report_html.c ---- */
/* HTML-escapes text (& < > " ') and replaces control characters other than tab/newline
 * with U+FFFD, so anything from the archive renders as text. NULL appends nothing. */
void rp_esc(dc_sb *b, const char *text);
/* A number for people: "%.4g", "–" for NaN/Inf. */
const char *rp_num(char *buf, size_t cap, double v);
/* The whole page (malloc'ed); generator goes into the footer ("discover 0.1.0"). */
char *rp_render(const rp_data *d, const char *generator);

/* ---- report_plots.c: each appends one <figure> ---- */
void rp_plot_progress(dc_sb *b, const rp_data *d, int test_metric);
/* Best fitness so far per island (report_islands.c); nothing with one island. */
void rp_plot_islands(dc_sb *b, const rp_data *d);
/* Where the wall time went (report_timeline.c): a row per evaluator with a bar per candidate
 * coloured by status, and a row of LLM calls; a one-line note for campaigns archived before
 * evaluation times were recorded. */
void rp_plot_timeline(dc_sb *b, const rp_data *d);
void rp_plot_losses(dc_sb *b, const rp_data *d);
void rp_plot_frontier(dc_sb *b, const rp_data *d);
void rp_plot_curves(dc_sb *b, const rp_data *d);
/* The value-drift overlay of one seed: each measure of the task's drift-curve schema through
 * SFT and then, from the same π_ref, through PPO, DPO and the focus candidate. Nothing when
 * the task traces no drift curves or the focus has none. */
void rp_plot_drift(dc_sb *b, const rp_data *d);
void rp_plot_llm(dc_sb *b, const rp_data *d);
/* Per-model calls, tokens, cost, ok rate and best fitness, and the best fitness so far against
 * the cumulative cost per model and for the campaign (report_models.c); nothing with one
 * model. */
void rp_plot_models(dc_sb *b, const rp_data *d);
/* ---- report_confirm.c ---- */
/* Search fitness against mean confirmed fitness of the confirmed candidates (a note on how to
 * confirm when there are none). */
void rp_plot_confirm(dc_sb *b, const rp_data *d);

/* Colour of a candidate status on every chart and in the table. */
const char *rp_status_color(const char *status);
/* The legend's entries for candidate statuses: one coloured <span> per status among d's
 * candidates that keep accepts (NULL: all), with its count, in order of first appearance. */
void rp_status_legend_items(dc_sb *b, const rp_data *d, int (*keep)(const arc_candidate *c));

/* ---- report_svg.c: plotting primitives ---- */
typedef struct {
    double x0, x1, y0, y1; /* data range shown */
    int w, h;              /* whole SVG in px */
    int ml, mr, mt, mb;    /* margins (axes labels live there) */
    int x_integer;         /* ticks on whole numbers only (generations) */
} rp_axes;
/* Axes of w×h px with default margins over [x0,x1]×[y0,y1] (degenerate or non-finite
 * ranges are widened so a single value still gets an axis). */
rp_axes rp_axes_make(int w, int h, double x0, double x1, double y0, double y1);
double rp_px(const rp_axes *ax, double x);
double rp_py(const rp_axes *ax, double y);
/* <svg> with frame, grid, tick labels and axis titles; aria-label is the title. */
void rp_svg_open(dc_sb *b, const rp_axes *ax, const char *title, const char *xlabel,
                 const char *ylabel);
void rp_svg_close(dc_sb *b);
/* A polyline through the finite points (gaps where a value is not finite), downsampled to
 * RP_MAX_LINE points by min/max buckets. attrs are extra attributes written verbatim
 * (the caller's own constant text, never archive data). */
void rp_svg_line(dc_sb *b, const rp_axes *ax, const double *x, const double *y, int n,
                 const char *attrs);
/* Min/max bucket downsampling: writes at most max_out indices of points to keep (in
 * order) into keep; returns the count. Keeps everything when n <= max_out. */
int rp_downsample(const double *y, int n, int max_out, int *keep);
/* "Nice" tick step for a range (1, 2 or 5 × 10^k) giving about `target` ticks. */
double rp_nice_step(double range, int target);

#endif
