/* lrml — DiscoPOP's log-ratio modulated loss: a sigmoid gate on the log-ratio blends the
 * logistic (DPO) loss and the exponential loss. Non-convex: at β = τ = 0.05 it has a local
 * minimum at ρ ≈ −2.3714 (loss ≈ 0.7859) and a local maximum at ρ ≈ 1.44012 (≈ 0.8783).
 *
 *   x = βρ,  τ = 0.05,  w = σ(x/τ)
 *   loss = (1 − w)·log(1 + e^−x) + w·e^−x
 *
 * w·e^−x is evaluated as exp(−x + log σ(x/τ)) so that the gate's zero cancels the
 * exponential's overflow for very negative x instead of producing 0·inf.
 * Source: Chris Lu et al., "Discovering Preference Optimization Algorithms with and for
 * Large Language Models", 2024, discovered objective LRML ("DiscoPOP"). */
#include <math.h>

static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

void objective(const pref_batch *b, double *loss)
{
    const double tau = 0.05;
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        double x = b->beta * rho;
        double one_minus_w = exp(-log1pexp(x / tau)); /* σ(−x/τ) */
        double w_exp = exp(-x - log1pexp(-x / tau));  /* σ(x/τ)·e^−x */
        loss[i] = one_minus_w * log1pexp(-x) + w_exp;
    }
}
