/* backend.h — the tensor operations the inner-loop trainers are built from.
 *
 * llm.c style: plain functions on contiguous float arrays, shapes in the comments, no
 * tensor objects. This file is the contract between the trainers and a backend: the CPU
 * reference (backend_cpu.c: OpenBLAS sgemm for the matrix products, plain loops elsewhere)
 * implements it now; a CUDA backend implements the same list later (then every pointer is a
 * device pointer). Every operation is deterministic for given inputs and thread count.
 *
 * Layouts (row-major, PyTorch convention):
 *   activations (B,C): B rows (batch) of C features
 *   weight (OC,C): one row per output feature; bias (OC)
 * Backward functions OVERWRITE their gradient outputs (they never accumulate), so callers
 * need not zero them between steps. */
#ifndef DC_BACKEND_H
#define DC_BACKEND_H

#include <stddef.h>

/* Name of the compiled-in backend ("cpu-openblas"). */
const char *dc_backend_name(void);
/* Worker threads for the matrix products; n <= 0 means "all cores". Global state: set it
 * before training, not while another trainer runs in the same process. */
void dc_backend_set_threads(int n);

/* out (B,OC) = inp (B,C) @ weight^T (C,OC) + bias (OC); bias may be NULL. */
void dc_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                       int C, int OC);
/* Given dout (B,OC) = dL/d out: dinp (B,C) = dout @ weight; dweight (OC,C) = dout^T @ inp;
 * dbias (OC) = Σ_b dout. dinp may be NULL (first layer: nothing needs it), as may dbias. */
void dc_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int B, int C, int OC);

/* out (N) = max(0, inp (N)); in place (out == inp) is allowed. */
void dc_relu_forward(float *out, const float *inp, size_t N);
/* dinp (N) = dout (N) where the forward OUTPUT out (N) > 0, else 0; dinp == dout allowed. */
void dc_relu_backward(float *dinp, const float *dout, const float *out, size_t N);

/* One Adam/AdamW step on N parameters, in place. m, v (N) are the moment buffers (zero at
 * t = 1); t is the 1-based step count used for bias correction. weight_decay is decoupled
 * (AdamW: param -= lr * wd * param); 0 gives plain Adam. */
void dc_adam_update(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                    float beta1, float beta2, float eps, float weight_decay, int t);

/* Number of rows b of logits (B,K) whose argmax (first maximum on ties) equals labels[b]. */
int dc_argmax_correct(const float *logits, const int *labels, int B, int K);

/* 1 when all N values are finite (no NaN/Inf). */
int dc_all_finite(const float *x, size_t N);

#endif
