/* exo_pair — EXact Optimisation (EXO), paired form: the reverse KL between the model's
 * implied preference distribution σ(x) and a smoothed target (1 − ε, ε).
 *
 *   x = βρ,  ε = 1e-3
 *   loss = σ(x)·(log σ(x) − log(1 − ε)) + σ(−x)·(log σ(−x) − log ε)
 *
 * Source: Ji et al., "Towards Efficient Exact Optimization of Language Model Alignment",
 * ICML 2024, eq. 16 (TRL loss_type="exo_pair", label smoothing 0 → ε = 1e-3). */
#include <math.h>

static double sigmoid(double z)
{
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* log σ(z), stable for either sign. */
static double logsigmoid(double z)
{
    return z < 0.0 ? z - log1p(exp(z)) : -log1p(exp(-z));
}

void objective(const pref_batch *b, double *loss)
{
    const double eps = 1e-3;
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        double x = b->beta * rho;
        loss[i] =
            sigmoid(x) * (logsigmoid(x) - log1p(-eps)) + sigmoid(-x) * (logsigmoid(-x) - log(eps));
    }
}
