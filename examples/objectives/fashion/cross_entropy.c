/* cross_entropy — the standard softmax cross-entropy (negative log-likelihood).
 *
 *   log p_j = z_j − logsumexp(z),  loss = −log p_y
 *   d loss / d z_j = p_j − [j = y]   (objective_grad: the optional analytic gradient, which
 *   the sandbox checks and then uses: one call per step instead of 2k + 1)
 *
 * logsumexp subtracts the row maximum first so large logits cannot overflow.
 * Source: the standard maximum-likelihood classification loss (e.g. Goodfellow, Bengio and
 * Courville, "Deep Learning", 2016, §6.2.2.3). */
#include <math.h>

/* logsumexp of one row of k logits, the row maximum subtracted first. */
static double row_lse(const double *z, int k)
{
    double mx = z[0];
    for (int j = 1; j < k; j++)
        mx = fmax(mx, z[j]);
    double s = 0.0;
    for (int j = 0; j < k; j++)
        s += exp(z[j] - mx);
    return mx + log(s);
}

void objective(int n, int k, const double *logits, const int *labels, double *loss)
{
    for (int i = 0; i < n; i++) {
        const double *z = logits + (long)i * k; // (k,)
        loss[i] = row_lse(z, k) - z[labels[i]];
    }
}

void objective_grad(int n, int k, const double *logits, const int *labels, double *loss,
                    double *d_logits)
{
    for (int i = 0; i < n; i++) {
        const double *z = logits + (long)i * k; // (k,)
        double *g = d_logits + (long)i * k;     // (k,)
        double lse = row_lse(z, k);
        loss[i] = lse - z[labels[i]];
        for (int j = 0; j < k; j++)
            g[j] = exp(z[j] - lse) - (j == labels[i] ? 1.0 : 0.0);
    }
}
