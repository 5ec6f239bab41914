/* pfl — DiscoPOP's policy focused loss: a gentle logistic loss where the policy already
 * prefers the chosen response, a doubled hinge where it does not.
 *
 *   x = βρ
 *   loss = ½·log(1 + e^−x)   if log π(y_w) > log π(y_l)
 *          2·max(0, 1 − x)   otherwise
 *
 * Source: Chris Lu et al., "Discovering Preference Optimization Algorithms with and for
 * Large Language Models", 2024, discovered objective PFL. */
#include <math.h>

static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

void objective(const pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        double x = b->beta * rho;
        if (b->chosen_logps[i] > b->rejected_logps[i])
            loss[i] = 0.5 * log1pexp(-x);
        else
            loss[i] = 2.0 * fmax(0.0, 1.0 - x);
    }
}
