/* sppo_hard — Self-Play Preference Optimisation with hard (winner/loser) labels.
 *
 *   r_w = log π(y_w) − log π_ref(y_w),  r_l = log π(y_l) − log π_ref(y_l)
 *   loss = (r_w − 1/(2β))² + (r_l + 1/(2β))²
 *
 * Source: Wu et al., "Self-Play Preference Optimization for Language Model Alignment",
 * 2024 (TRL loss_type="sppo_hard"). */
#include <math.h>

void objective(const pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++) {
        double rw = b->chosen_logps[i] - b->ref_chosen_logps[i];
        double rl = b->rejected_logps[i] - b->ref_rejected_logps[i];
        double half = 0.5 / b->beta;
        loss[i] = (rw - half) * (rw - half) + (rl + half) * (rl + half);
    }
}
