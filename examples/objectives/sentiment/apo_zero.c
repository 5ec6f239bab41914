/* apo_zero — Anchored Preference Optimisation, "zero" anchor (raise the chosen likelihood,
 * lower the rejected one; for data where the chosen answers beat the model).
 *
 *   r_w = β(log π(y_w) − log π_ref(y_w)),  r_l = β(log π(y_l) − log π_ref(y_l))
 *   loss = (1 − σ(r_w)) + σ(r_l)
 *
 * Source: D'Oosterlinck et al., "Anchored Preference Optimization and Contrastive
 * Revisions", 2024 (TRL loss_type="apo_zero"). */
#include <math.h>

static double sigmoid(double z)
{
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

void objective(const pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++) {
        double rw = b->beta * (b->chosen_logps[i] - b->ref_chosen_logps[i]);
        double rl = b->beta * (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        loss[i] = (1.0 - sigmoid(rw)) + sigmoid(rl);
    }
}
