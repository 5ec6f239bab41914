/* aql — DiscoPOP's adaptive quantile loss: a sigmoid gate around a slowly moving batch
 * quantile blends the logistic (DPO) loss and the hinge (SLiC) loss.
 *
 *   x = βρ,  τ = 0.05
 *   m = 0.5 + 0.01·(σ(mean_batch(x/τ)) − 0.5)
 *   q = σ(m − x/τ)
 *   loss = q·log(1 + e^−x) + (1 − q)·max(0, 1 − x)
 *
 * Source: Chris Lu et al., "Discovering Preference Optimization Algorithms with and for
 * Large Language Models", 2024, discovered objective AQL. */
#include <math.h>

static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static double sigmoid(double z)
{
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

static double x_of(const pref_batch *b, int i)
{
    return b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                      (b->rejected_logps[i] - b->ref_rejected_logps[i]));
}

void objective(const pref_batch *b, double *loss)
{
    const double tau = 0.05, start_quantile = 0.5, adapt_rate = 0.01;
    double mean = 0.0;
    for (int i = 0; i < b->n; i++)
        mean += x_of(b, i) / tau;
    mean /= b->n;
    double m = start_quantile + adapt_rate * (sigmoid(mean) - start_quantile);
    for (int i = 0; i < b->n; i++) {
        double x = x_of(b, i);
        double q = sigmoid(m - x / tau);
        loss[i] = q * log1pexp(-x) + (1.0 - q) * fmax(0.0, 1.0 - x);
    }
}
