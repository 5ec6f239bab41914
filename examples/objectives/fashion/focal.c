/* focal — focal loss: cross-entropy down-weighted on examples already classified well.
 *
 *   loss = −(1 − p_y)^γ · log p_y,  γ = 2
 *
 * Source: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017 (α-balancing off). */
#include <math.h>

void objective(int n, int k, const double *logits, const int *labels, double *loss)
{
    const double gamma = 2.0;
    for (int i = 0; i < n; i++) {
        const double *z = logits + (long)i * k; // (k,)
        double mx = z[0];
        for (int j = 1; j < k; j++)
            mx = fmax(mx, z[j]);
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += exp(z[j] - mx);
        double logp = z[labels[i]] - mx - log(s);
        /* 1 − p_y = −expm1(log p_y) keeps precision when p_y is close to 1. */
        loss[i] = -pow(-expm1(logp), gamma) * logp;
    }
}
