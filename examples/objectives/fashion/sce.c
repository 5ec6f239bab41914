/* sce — symmetric cross-entropy: cross-entropy plus reverse cross-entropy (the roles of the
 * prediction and the one-hot label swapped, log 0 clipped to log 1e-4).
 *
 *   CE  = −log p_y
 *   RCE = −Σ_j p_j·log(max(1e-4, [j = y])) = −log(1e-4)·(1 − p_y)
 *   loss = α·CE + β·RCE,  α = 0.1, β = 1.0
 *
 * Source: Wang et al., "Symmetric Cross Entropy for Robust Learning with Noisy Labels",
 * ICCV 2019 (α, β of their CIFAR-10 setting; the 1e-4 clip of their released code). */
#include <math.h>

void objective(int n, int k, const double *logits, const int *labels, double *loss)
{
    const double alpha = 0.1, beta = 1.0, label_floor = 1e-4;
    for (int i = 0; i < n; i++) {
        const double *z = logits + (long)i * k; // (k,)
        double mx = z[0];
        for (int j = 1; j < k; j++)
            mx = fmax(mx, z[j]);
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += exp(z[j] - mx);
        double logp = z[labels[i]] - mx - log(s);
        double ce = -logp;
        double rce = -log(label_floor) * -expm1(logp); /* −log(1e-4)·(1 − p_y) */
        loss[i] = alpha * ce + beta * rce;
    }
}
