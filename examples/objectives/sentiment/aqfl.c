/* aqfl — DiscoPOP's adaptive quantile feedback loss: each pair's distance from a batch-level
 * target (spread times mean "wrongness") decides its logistic/hinge blend.
 *
 *   x = βρ,  τ = 0.05,  z = x/τ
 *   m1 = std_batch(z)·mean_batch(σ(−z))     (sample std, n − 1; 0 for a single pair)
 *   m2 = m1 + 0.05·(σ(mean_batch(z)) − m1)
 *   r = σ(0.1·|z − m2|)
 *   loss = r·log(1 + e^−x) + (1 − r)·max(0, 1 − x)
 *
 * Source: Chris Lu et al., "Discovering Preference Optimization Algorithms with and for
 * Large Language Models", 2024, discovered objective AQFL. */
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
    const double tau = 0.05, feedback_rate = 0.05, focus = 0.1;
    double mean = 0.0, mean_wrong = 0.0, var = 0.0;
    for (int i = 0; i < b->n; i++) {
        double z = x_of(b, i) / tau;
        mean += z;
        mean_wrong += sigmoid(-z);
    }
    mean /= b->n;
    mean_wrong /= b->n;
    for (int i = 0; i < b->n; i++) {
        double d = x_of(b, i) / tau - mean;
        var += d * d;
    }
    double sd = b->n > 1 ? sqrt(var / (b->n - 1)) : 0.0;
    double m1 = sd * mean_wrong;
    double m2 = m1 + feedback_rate * (sigmoid(mean) - m1);
    for (int i = 0; i < b->n; i++) {
        double x = x_of(b, i);
        double r = sigmoid(focus * fabs(x / tau - m2));
        loss[i] = r * log1pexp(-x) + (1.0 - r) * fmax(0.0, 1.0 - x);
    }
}
