/* kto_pair — the paired variant of Kahneman-Tversky Optimisation.
 *
 *   r_w = log π(y_w) − log π_ref(y_w),  r_l = log π(y_l) − log π_ref(y_l)
 *   z_w = max(0, mean_batch(r_w)),  z_l = max(0, mean_batch(r_l))   (KL reference points)
 *   loss = ½·[(1 − σ(β(r_w − z_l))) + (1 − σ(β(z_w − r_l)))]
 *
 * TRL concatenates the chosen and rejected terms and averages 2n values; the ½ keeps this
 * per-pair loss on the same scale. TRL detaches the batch reference points; this interface
 * cannot, so they carry gradient here (a 1/n effect per pair).
 * Source: Ethayarajh et al., "KTO: Model Alignment as Prospect Theoretic Optimization",
 * 2024 (TRL loss_type="kto_pair"). */
#include <math.h>

static double sigmoid(double z)
{
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

void objective(const pref_batch *b, double *loss)
{
    double zw = 0.0, zl = 0.0;
    for (int i = 0; i < b->n; i++) {
        zw += b->chosen_logps[i] - b->ref_chosen_logps[i];
        zl += b->rejected_logps[i] - b->ref_rejected_logps[i];
    }
    zw = fmax(0.0, zw / b->n);
    zl = fmax(0.0, zl / b->n);
    for (int i = 0; i < b->n; i++) {
        double rw = b->chosen_logps[i] - b->ref_chosen_logps[i];
        double rl = b->rejected_logps[i] - b->ref_rejected_logps[i];
        loss[i] =
            0.5 * ((1.0 - sigmoid(b->beta * (rw - zl))) + (1.0 - sigmoid(b->beta * (zw - rl))));
    }
}
