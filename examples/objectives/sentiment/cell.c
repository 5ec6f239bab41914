/* cell — DiscoPOP's "combined exponential + logistic loss": an equal mix of DPO's logistic
 * loss and the exponential loss.
 *
 *   x = βρ,  loss = 0.5·log(1 + e^−x) + 0.5·e^−x
 *
 * Source: Chris Lu et al., "Discovering Preference Optimization Algorithms with and for
 * Large Language Models" (DiscoPOP), 2024, discovered objective CELL. */
#include <math.h>

static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

/* e^−x, saturating at e^700 instead of overflowing to inf for absurd margins. */
static double exp_neg(double x)
{
    return exp(fmin(-x, 700.0));
}

void objective(const pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        double x = b->beta * rho;
        loss[i] = 0.5 * log1pexp(-x) + 0.5 * exp_neg(x);
    }
}
