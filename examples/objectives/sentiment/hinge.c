/* hinge — SLiC's calibration hinge loss on the reference-adjusted log-ratio.
 *
 *   x = βρ,  loss = max(0, 1 − x)
 *
 * Source: Zhao et al., "SLiC-HF: Sequence Likelihood Calibration with Human Feedback",
 * 2023 (TRL loss_type="hinge"; DiscoPOP's f_slic). */
#include <math.h>

void objective(const pref_batch *b, double *loss)
{
    const double margin = 1.0;
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        loss[i] = fmax(0.0, margin - b->beta * rho);
    }
}
