/* padll — DiscoPOP's performance-adaptive decay logistic loss: the DPO loss scaled by 0.9,
 * halved again for pairs the model currently ranks the wrong way round (ρ < 0).
 *
 *   x = βρ,  loss = 0.9·(1 − 0.5·[ρ < 0])·log(1 + e^−x)
 *
 * Source: Chris Lu et al., "Discovering Preference Optimization Algorithms with and for
 * Large Language Models", 2024, discovered objective PADLL. */
#include <math.h>

static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

void objective(const pref_batch *b, double *loss)
{
    const double base_decay = 0.9, mismatch_penalty = 0.5;
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        double decay = base_decay * (1.0 - (rho < 0.0 ? mismatch_penalty : 0.0));
        loss[i] = decay * log1pexp(-b->beta * rho);
    }
}
