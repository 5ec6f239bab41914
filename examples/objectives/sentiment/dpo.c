/* dpo — Direct Preference Optimization, the logistic ("sigmoid") loss.
 *
 *   ρ = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)),  x = βρ
 *   loss = −log σ(x) = log(1 + e^−x)
 *
 * Source: Rafailov et al., "Direct Preference Optimization: Your Language Model is
 * Secretly a Reward Model", NeurIPS 2023 (TRL loss_type="sigmoid", label smoothing 0). */
#include <math.h>

/* log(1 + e^z) without overflow for large z. */
static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

void objective(const pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        loss[i] = log1pexp(-b->beta * rho);
    }
}
