/* tis_dpo — token-importance-weighted DPO in the manner of TIS-DPO (Liu et al., "TIS-DPO:
 * Token-level Importance Sampling for Direct Preference Optimization with Estimated
 * Weights", ICLR 2025).
 *
 * TIS-DPO weights each token by an importance estimated from the log-probability
 * difference of two contrastive models, w_t = exp(μ · clamp(Δ_t, L, U)), and optimises
 * DPO with those weights on the per-token log-ratios. The contrastive pair is not available
 * here; this file's choice is π_ref itself as the weight model: a token π_ref found
 * unlikely (high surprisal relative to the rest of its response) carries more of the
 * preference. Δ_t = mean_s log π_ref(y_s) − log π_ref(y_t) within the response, so the
 * weights depend only on the reference (constants for the gradient, as in TIS-DPO).
 *
 *   w_t = exp(MU · clamp(Δ_t, LO, HI))
 *   ρ = Σ_t w_t (log π − log π_ref)(y_w,t) − Σ_t w_t (log π − log π_ref)(y_l,t)
 *   loss = −log σ(βρ)
 * MU = 0.5, LO = −1, HI = 1 are this file's choices. */
#include <math.h>

#define MU 0.5
#define LO -1.0
#define HI 1.0

static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

/* Σ_t w_t (log π − log π_ref)(y_t) over one response of len tokens from index off. */
static double weighted_ratio(const double *lp, const double *ref, int off, int len)
{
    double mean = 0, sum = 0;
    for (int t = 0; t < len; t++)
        mean += ref[off + t];
    mean /= len;
    for (int t = 0; t < len; t++) {
        double d = fmin(HI, fmax(LO, mean - ref[off + t]));
        sum += exp(MU * d) * (lp[off + t] - ref[off + t]);
    }
    return sum;
}

void objective(const token_pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++) {
        double rho = weighted_ratio(b->chosen_logps, b->ref_chosen_logps, b->chosen_off[i],
                                    b->chosen_len[i]) -
                     weighted_ratio(b->rejected_logps, b->ref_rejected_logps, b->rejected_off[i],
                                    b->rejected_len[i]);
        loss[i] = log1pexp(-b->beta * rho);
    }
}
