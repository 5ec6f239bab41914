/* ipo — Identity Preference Optimisation: squared regression of the log-ratio margin.
 *
 *   ρ̄ = (log π(y_w)/|y_w| − log π_ref(y_w)/|y_w|) − (log π(y_l)/|y_l| − log π_ref(y_l)/|y_l|)
 *   loss = (ρ̄ − 1/(2β))²
 *
 * Log-probs are per-token averages (TRL's IPO uses average_log_prob), so the target margin
 * 1/(2β) does not depend on response length.
 * Source: Azar et al., "A General Theoretical Paradigm to Understand Learning from Human
 * Preferences", AISTATS 2024 (TRL loss_type="ipo"). */
#include <math.h>

void objective(const pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++) {
        double lw = fmax(b->chosen_lens[i], 1.0), ll = fmax(b->rejected_lens[i], 1.0);
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) / lw -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]) / ll;
        double d = rho - 1.0 / (2.0 * b->beta);
        loss[i] = d * d;
    }
}
