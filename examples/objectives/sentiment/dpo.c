/* dpo — Direct Preference Optimization, the logistic ("sigmoid") loss.
 *
 *   ρ = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)),  x = βρ
 *   loss = −log σ(x) = log(1 + e^−x)
 *   d loss / d log π(y_w) = −β σ(−x),  d loss / d log π(y_l) = +β σ(−x)   (objective_grad:
 *   the optional analytic gradient, which the sandbox checks and then uses)
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

/* σ(−x) = 1 / (1 + e^x), without overflow for large |x|. */
static double sigmoid_neg(double x)
{
    return x > 0.0 ? exp(-x) / (1.0 + exp(-x)) : 1.0 / (1.0 + exp(x));
}

void objective_grad(const pref_batch *b, double *loss, double *d_chosen, double *d_rejected)
{
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        double x = b->beta * rho, s = sigmoid_neg(x);
        loss[i] = log1pexp(-x);
        d_chosen[i] = -b->beta * s;
        d_rejected[i] = b->beta * s;
    }
}
