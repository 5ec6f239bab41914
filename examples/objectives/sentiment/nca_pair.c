/* nca_pair — Noise Contrastive Alignment, paired form.
 *
 *   r_w = β(log π(y_w) − log π_ref(y_w)),  r_l = β(log π(y_l) − log π_ref(y_l))
 *   loss = −log σ(r_w) − ½ log σ(−r_w) − ½ log σ(−r_l)
 *
 * Source: Chen et al., "Noise Contrastive Alignment of Language Models with Explicit
 * Rewards", 2024 (TRL loss_type="nca_pair"). */
#include <math.h>

/* −log σ(z) = log(1 + e^−z), stable for either sign. */
static double neg_logsigmoid(double z)
{
    return z < 0.0 ? -z + log1p(exp(z)) : log1p(exp(-z));
}

void objective(const pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++) {
        double rw = b->beta * (b->chosen_logps[i] - b->ref_chosen_logps[i]);
        double rl = b->beta * (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        loss[i] = neg_logsigmoid(rw) + 0.5 * neg_logsigmoid(-rw) + 0.5 * neg_logsigmoid(-rl);
    }
}
