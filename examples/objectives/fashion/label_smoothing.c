/* label_smoothing — cross-entropy against a smoothed target: (1 − ε) on the label plus ε
 * spread uniformly over all k classes (PyTorch's CrossEntropyLoss(label_smoothing=ε)).
 *
 *   loss = (1 − ε)·(−log p_y) + ε·(1/k)·Σ_j (−log p_j),  ε = 0.1
 *
 * Source: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
 * CVPR 2016, §7 (the DiscoPOP CIFAR-10 case study's first discovery). */
#include <math.h>

void objective(int n, int k, const double *logits, const int *labels, double *loss)
{
    const double eps = 0.1;
    for (int i = 0; i < n; i++) {
        const double *z = logits + (long)i * k; // (k,)
        double mx = z[0];
        for (int j = 1; j < k; j++)
            mx = fmax(mx, z[j]);
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += exp(z[j] - mx);
        double lse = mx + log(s);
        double nll_sum = 0.0;
        for (int j = 0; j < k; j++)
            nll_sum += lse - z[j];
        loss[i] = (1.0 - eps) * (lse - z[labels[i]]) + eps * nll_sum / k;
    }
}
