/* gce — generalized cross-entropy: a Box-Cox power of p_y between cross-entropy (q → 0) and
 * mean absolute error (q = 1); robust to noisy labels.
 *
 *   loss = (1 − p_y^q) / q,  q = 0.7
 *
 * Source: Zhang and Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural
 * Networks with Noisy Labels", NeurIPS 2018. */
#include <math.h>

void objective(int n, int k, const double *logits, const int *labels, double *loss)
{
    const double q = 0.7;
    for (int i = 0; i < n; i++) {
        const double *z = logits + (long)i * k; // (k,)
        double mx = z[0];
        for (int j = 1; j < k; j++)
            mx = fmax(mx, z[j]);
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += exp(z[j] - mx);
        double logp = z[labels[i]] - mx - log(s);
        loss[i] = -expm1(q * logp) / q; /* (1 − e^{q·log p}) / q */
    }
}
