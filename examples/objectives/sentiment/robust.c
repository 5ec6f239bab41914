/* robust — provably robust DPO under preference-label noise with flip rate ε: an unbiased
 * estimate of the clean DPO loss.
 *
 *   x = βρ,  ε = 0.1
 *   loss = ((1 − ε)·(−log σ(x)) − ε·(−log σ(−x))) / (1 − 2ε)
 *
 * Source: Chowdhury, Kini and Natarajan, "Provably Robust DPO: Aligning Language Models
 * with Noisy Feedback", ICML 2024 (TRL loss_type="robust"). */
#include <math.h>

static double neg_logsigmoid(double z)
{
    return z < 0.0 ? -z + log1p(exp(z)) : log1p(exp(-z));
}

void objective(const pref_batch *b, double *loss)
{
    const double eps = 0.1;
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        double x = b->beta * rho;
        loss[i] = ((1.0 - eps) * neg_logsigmoid(x) - eps * neg_logsigmoid(-x)) / (1.0 - 2.0 * eps);
    }
}
