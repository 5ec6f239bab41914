/* dbaql — DiscoPOP's dynamic blended adaptive quantile loss: the spread of the batch's
 * log-ratios decides how much of a tempered logistic loss versus a tempered exponential
 * loss each pair gets.
 *
 *   x = βρ,  τ = 0.05,  T = 0.9
 *   w = σ(Var_batch(x/τ))          (sample variance, n − 1; 0 for a single pair)
 *   loss = w·log(1 + e^−x/T) + (1 − w)·e^−T·x
 *
 * Source: Chris Lu et al., "Discovering Preference Optimization Algorithms with and for
 * Large Language Models", 2024, discovered objective DBAQL (best MT-Bench score, 7.978). */
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
    const double tau = 0.05, temperature = 0.9;
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < b->n; i++)
        mean += x_of(b, i) / tau;
    mean /= b->n;
    for (int i = 0; i < b->n; i++) {
        double d = x_of(b, i) / tau - mean;
        var += d * d;
    }
    var = b->n > 1 ? var / (b->n - 1) : 0.0;
    double w = sigmoid(var);
    for (int i = 0; i < b->n; i++) {
        double x = x_of(b, i);
        /* e^−Tx saturates at e^700 instead of overflowing for absurd margins. */
        loss[i] = w * log1pexp(-x / temperature) + (1.0 - w) * exp(fmin(-temperature * x, 700.0));
    }
}
