/* squared_error — the Brier score: squared error between the softmax probabilities and the
 * one-hot target.
 *
 *   p = softmax(z),  loss = Σ_j (p_j − [j = y])²
 *
 * Source: Brier, "Verification of Forecasts Expressed in Terms of Probability", 1950; as a
 * training loss, Hui and Belkin, "Evaluation of Neural Architectures Trained with Square
 * Loss vs Cross-Entropy in Classification Tasks", ICLR 2021 (also a DiscoPOP CIFAR step). */
#include <math.h>

void objective(int n, int k, const double *logits, const int *labels, double *loss)
{
    for (int i = 0; i < n; i++) {
        const double *z = logits + (long)i * k; // (k,)
        double mx = z[0];
        for (int j = 1; j < k; j++)
            mx = fmax(mx, z[j]);
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += exp(z[j] - mx);
        double acc = 0.0;
        for (int j = 0; j < k; j++) {
            double d = exp(z[j] - mx) / s - (j == labels[i] ? 1.0 : 0.0);
            acc += d * d;
        }
        loss[i] = acc;
    }
}
