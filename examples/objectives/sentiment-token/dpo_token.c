/* dpo_token — Direct Preference Optimization written per token.
 *
 *   ρ = Σ_t (log π(y_w,t) − log π_ref(y_w,t)) − Σ_t (log π(y_l,t) − log π_ref(y_l,t)),  x = βρ
 *   loss = −log σ(x) = log(1 + e^−x)
 *   d loss / d log π(y_w,t) = −β σ(−x) for every token t, + β σ(−x) for every y_l token
 *
 * The sums of per-token log-ratios are the summed log-ratios of sentiment's dpo.c, so the
 * two train the same policy (to rounding: test_sentiment_token checks reward and KL).
 *
 * Source: Rafailov et al., "Direct Preference Optimization: Your Language Model is
 * Secretly a Reward Model", NeurIPS 2023. */
#include <math.h>

/* log(1 + e^z) without overflow for large z. */
static double log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

/* σ(−x) = 1 / (1 + e^x), without overflow for large |x|. */
static double sigmoid_neg(double x)
{
    return x > 0.0 ? exp(-x) / (1.0 + exp(-x)) : 1.0 / (1.0 + exp(x));
}

/* The pair's summed log-ratio margin ρ. */
static double margin(const token_pref_batch *b, int i)
{
    double rho = 0;
    for (int t = 0; t < b->chosen_len[i]; t++) {
        int j = b->chosen_off[i] + t;
        rho += b->chosen_logps[j] - b->ref_chosen_logps[j];
    }
    for (int t = 0; t < b->rejected_len[i]; t++) {
        int j = b->rejected_off[i] + t;
        rho -= b->rejected_logps[j] - b->ref_rejected_logps[j];
    }
    return rho;
}

void objective(const token_pref_batch *b, double *loss)
{
    for (int i = 0; i < b->n; i++)
        loss[i] = log1pexp(-b->beta * margin(b, i));
}

void objective_grad(const token_pref_batch *b, double *loss, double *d_chosen, double *d_rejected)
{
    for (int i = 0; i < b->n; i++) {
        double x = b->beta * margin(b, i), s = sigmoid_neg(x);
        loss[i] = log1pexp(-x);
        for (int t = 0; t < b->chosen_len[i]; t++)
            d_chosen[b->chosen_off[i] + t] = -b->beta * s;
        for (int t = 0; t < b->rejected_len[i]; t++)
            d_rejected[b->rejected_off[i] + t] = b->beta * s;
    }
}
