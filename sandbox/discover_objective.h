/* discover_objective.h — the interface every candidate objective is written against.
 *
 * A candidate is one C99 file that defines exactly one non-static function named
 * `objective` (helpers must be `static`), uses only the math functions declared below,
 * allocates nothing, does no I/O and keeps no state between calls.
 *
 * Inside the sandbox (DISCOVER_SANDBOX defined) this header is the whole world: there is
 * no libc, and `#include <math.h>` in a candidate maps to it. Outside the sandbox (unit
 * tests, a user's own trainer after `discover export`) it includes the real <math.h>, so
 * the same file compiles with gcc or clang:
 *
 *     #include "discover_objective.h"
 *     #include "my_exported_objective.c"
 */
#ifndef DISCOVER_OBJECTIVE_H
#define DISCOVER_OBJECTIVE_H

#ifdef DISCOVER_SANDBOX
double exp(double);
double log(double);
double log1p(double);
double expm1(double);
double log2(double);
double log10(double);
double sqrt(double);
double cbrt(double);
double pow(double, double);
double fabs(double);
double tanh(double);
double sinh(double);
double cosh(double);
double sin(double);
double cos(double);
double tan(double);
double atan(double);
double atan2(double, double);
double erf(double);
double erfc(double);
double fmin(double, double);
double fmax(double, double);
double floor(double);
double ceil(double);
double round(double);
double trunc(double);
double fmod(double, double);
double copysign(double, double);
double hypot(double, double);
float expf(float);
float logf(float);
float log1pf(float);
float sqrtf(float);
float powf(float, float);
float fabsf(float);
float tanhf(float);
float fminf(float, float);
float fmaxf(float, float);
int __discover_isfinite(double);
int __discover_isnan(double);
int __discover_isinf(double);
#define isfinite(x) __discover_isfinite((double)(x))
#define isnan(x) __discover_isnan((double)(x))
#define isinf(x) __discover_isinf((double)(x))
#define INFINITY (1.0 / 0.0)
#define HUGE_VAL (1.0 / 0.0)
#define NAN (0.0 / 0.0)
#define M_PI 3.14159265358979323846
#define M_E 2.7182818284590452354
#define M_LN2 0.69314718055994530942
#define M_SQRT2 1.41421356237309504880
#define NULL ((void *)0)
#else
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#endif

/* Preference tasks (DiscoPOP's interface). Batch-level: an objective may use batch
 * statistics (means, variances, quantiles over the n pairs). */
typedef struct {
    int n;                            /* pairs in the batch */
    double beta;                      /* KL strength β */
    const double *chosen_logps;       /* log π_θ(y_w|x), summed over response tokens (trainable) */
    const double *rejected_logps;     /* log π_θ(y_l|x), summed over response tokens (trainable) */
    const double *ref_chosen_logps;   /* log π_ref(y_w|x) */
    const double *ref_rejected_logps; /* log π_ref(y_l|x) */
    const double *chosen_lens;        /* response lengths in tokens (length normalisation, SimPO) */
    const double *rejected_lens;
} pref_batch;

/* Token-level preference tasks (AAO's granularity). Token t of pair i's chosen response is
 * index chosen_off[i] + t of the flat per-token arrays (t < chosen_len[i], every length
 * >= 1); likewise rejected. The responses of different pairs never share an index. */
typedef struct {
    int n;                                /* pairs in the batch */
    double beta;                          /* KL strength β */
    const int *chosen_off, *rejected_off; /* first token of each response in the flat arrays */
    const int *chosen_len, *rejected_len; /* tokens per response */
    const double *chosen_logps;           /* per-token log π_θ (trainable), flat */
    const double *rejected_logps;
    const double *ref_chosen_logps; /* per-token log π_ref, flat */
    const double *ref_rejected_logps;
    const double *chosen_sim; /* per-token ambiguity in [0, 1]: similarity to the other response */
    const double *rejected_sim;
} token_pref_batch;

/* Preference: writes one loss per pair into loss[0..n-1]; the trainer averages.
 *   void objective(const pref_batch *b, double *loss);
 * Classification: logits are n rows of k (row-major, trainable), labels in [0, k); one loss
 * per row; the trainer averages.
 *   void objective(int n, int k, const double *logits, const int *labels, double *loss);
 * Token-level preference: one loss per pair; the trainer averages.
 *   void objective(const token_pref_batch *b, double *loss);
 *
 * Optional, beside objective: its analytic gradient. It writes the same losses and the
 * derivatives of their SUM with respect to every trainable input:
 *   void objective_grad(const pref_batch *b, double *loss, double *d_chosen,
 *                       double *d_rejected);      d_chosen[j] = d(Σ_i loss[i]) / d chosen_logps[j]
 *   void objective_grad(int n, int k, const double *logits, const int *labels, double *loss,
 *                       double *d_logits);        d_logits[i*k+c] = d(Σ loss) / d logits[i*k+c]
 *   void objective_grad(const token_pref_batch *b, double *loss, double *d_chosen,
 *                       double *d_rejected);      per token, indexed like chosen_logps
 * The sandbox checks it against objective and central differences on its probe batches and
 * then uses it (one call per training step instead of 2·inputs + 1); one that disagrees is
 * ignored (discover check says why) and central differences are used as without it.
 */

#endif
