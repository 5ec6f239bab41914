/* apo_down — Anchored Preference Optimisation, "down" anchor (lower both likelihoods, the
 * rejected one more; for data where the model already beats the chosen answers).
 *
 *   r_w = β(log π(y_w) − log π_ref(y_w)),  x = βρ (ρ = chosen minus rejected log-ratio)
 *   loss = σ(r_w) + (1 − σ(x))
 *
 * Source: D'Oosterlinck et al., "Anchored Preference Optimization and Contrastive
 * Revisions", 2024 (TRL loss_type="apo_down"). */
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
        double rw = b->chosen_logps[i] - b->ref_chosen_logps[i];
        double rl = b->rejected_logps[i] - b->ref_rejected_logps[i];
        loss[i] = sigmoid(b->beta * rw) + (1.0 - sigmoid(b->beta * (rw - rl)));
    }
}
