/* native_objectives.h — trusted, in-process classification objectives for the inner-loop
 * tests (the real path goes through the sandbox; these let the trainer be tested alone).
 * Each returns per-row losses and the exact d(Σ loss)/d logits, like the sandbox does. */
#ifndef DC_TEST_NATIVE_OBJECTIVES_H
#define DC_TEST_NATIVE_OBJECTIVES_H

#include "inner_loop/task.h"

#include <math.h>
#include <stdio.h>

/* softmax cross-entropy: loss = logsumexp(z) - z_y; d/dz_k = p_k - [k == y] */
static inline dc_status native_ce(void *ctx, int n, int k, const double *z, const int *y,
                                  double *loss, double *dz, char *msg, size_t cap)
{
    (void)ctx, (void)msg, (void)cap;
    for (int i = 0; i < n; i++) {
        const double *r = z + (size_t)i * k;
        double mx = r[0];
        for (int j = 1; j < k; j++)
            mx = r[j] > mx ? r[j] : mx;
        double s = 0;
        for (int j = 0; j < k; j++)
            s += exp(r[j] - mx);
        loss[i] = mx + log(s) - r[y[i]];
        if (dz)
            for (int j = 0; j < k; j++)
                dz[(size_t)i * k + j] = exp(r[j] - mx) / s - (j == y[i]);
    }
    return DC_OK;
}

/* The opposite goal: maximise the cross-entropy (loss = -CE), i.e. push the true class's
 * probability down. Training with it must end at or below chance. */
static inline dc_status native_anti(void *ctx, int n, int k, const double *z, const int *y,
                                    double *loss, double *dz, char *msg, size_t cap)
{
    dc_status st = native_ce(ctx, n, k, z, y, loss, dz, msg, cap);
    for (int i = 0; i < n; i++)
        loss[i] = -loss[i];
    if (dz)
        for (int i = 0; i < n * k; i++)
            dz[i] = -dz[i];
    return st;
}

/* Cross-entropy that turns NaN once the call counter passes *ctx (an int). */
static inline dc_status native_nan_after(void *ctx, int n, int k, const double *z, const int *y,
                                         double *loss, double *dz, char *msg, size_t cap)
{
    int *calls_left = ctx;
    dc_status st = native_ce(NULL, n, k, z, y, loss, dz, msg, cap);
    if ((*calls_left)-- <= 0) loss[n / 2] = NAN;
    return st;
}

/* A callback that fails like a crashed sandbox worker on its first call. */
static inline dc_status native_crash(void *ctx, int n, int k, const double *z, const int *y,
                                     double *loss, double *dz, char *msg, size_t cap)
{
    (void)ctx, (void)n, (void)k, (void)z, (void)y, (void)loss, (void)dz;
    snprintf(msg, cap, "the objective crashed (SIGSEGV)");
    return DC_CRASH;
}

#endif
