/* simpo — Simple Preference Optimisation: reference-free, length-normalised, with a margin.
 *
 *   u = log π(y_w)/|y_w| − log π(y_l)/|y_l|
 *   loss = −log σ(β_s·u − γ),  β_s = 2.5, γ = 1.375
 *
 * SimPO has no reference model and its own reward scale: b->beta (the KL strength of the
 * reference-based losses) is deliberately not used.
 * Source: Meng, Xia and Chen, "SimPO: Simple Preference Optimization with a Reference-Free
 * Reward", NeurIPS 2024. */
#include <math.h>

static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

void objective(const pref_batch *b, double *loss)
{
    const double beta_s = 2.5, gamma = 1.375;
    for (int i = 0; i < b->n; i++) {
        double lw = fmax(b->chosen_lens[i], 1.0), ll = fmax(b->rejected_lens[i], 1.0);
        double u = b->chosen_logps[i] / lw - b->rejected_logps[i] / ll;
        loss[i] = log1pexp(-(beta_s * u - gamma));
    }
}
