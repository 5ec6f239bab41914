/* mlp.h — a multilayer perceptron in fp32 on a backend (backend.h): in → [hidden, ReLU] ×
 * layers → out logits, He initialisation, Adam/AdamW.
 *
 * Every buffer lives in backend memory (device memory on CUDA): all parameters in one
 * contiguous buffer, likewise their gradients and the two Adam moments, so the optimiser
 * is one backend call. The initial weights are drawn on the host and uploaded, so a seed
 * gives the same starting model on every backend.
 *
 * Backend failures are sticky (see backend.h): the functions here queue work and return;
 * the caller checks m->be->error (or a download's return) once per step. */
#ifndef DC_MLP_H
#define DC_MLP_H

#include "inner_loop/backend.h"

#include <stddef.h>
#include <stdint.h>

#define DC_MLP_MAX_HIDDEN_LAYERS 2

typedef struct {
    const dc_backend_ops *be;               /* the backend every buffer belongs to */
    int nlin;                               /* linear layers = hidden layers + 1 */
    int dims[DC_MLP_MAX_HIDDEN_LAYERS + 2]; /* dims[0] = in, ..., dims[nlin] = out */
    int max_batch;                          /* largest B forward/backward accept */
    size_t nparams;
    float *params, *grads, *m, *v; /* (nparams) each, backend memory */
    float *W[DC_MLP_MAX_HIDDEN_LAYERS + 1],
        *b[DC_MLP_MAX_HIDDEN_LAYERS + 1]; /* views into params */
    float *dW[DC_MLP_MAX_HIDDEN_LAYERS + 1],
        *db[DC_MLP_MAX_HIDDEN_LAYERS + 1]; /* views into grads */
    /* act[0] is the caller's input (not owned); act[i] (max_batch, dims[i]) is the ReLU
     * output of hidden layer i; act[nlin] holds the logits. dact[i] the matching gradients. */
    const float *act0;
    float *act[DC_MLP_MAX_HIDDEN_LAYERS + 2];
    float *dact[DC_MLP_MAX_HIDDEN_LAYERS + 2];
    int t; /* optimiser steps taken */
} dc_mlp;

/* Allocates on backend be and He-initialises (weights ~ N(0, 2/fan_in) drawn from seed,
 * biases 0). Returns 0, or -1 with a message (bad sizes, out of memory on the backend). */
int dc_mlp_init(dc_mlp *m, const dc_backend_ops *be, int in, int hidden, int hidden_layers,
                int out, int max_batch, uint64_t seed, char *err, size_t errcap);
void dc_mlp_free(dc_mlp *m);

/* x (B,in) in backend memory → logits (B,out) in backend memory (owned by m, valid until
 * the next call). x must stay valid until dc_mlp_backward. B <= max_batch. */
const float *dc_mlp_forward(dc_mlp *m, const float *x, int B);
/* dlogits (B,out) = dL/d logits (backend memory) for the last forward → m->grads. */
void dc_mlp_backward(dc_mlp *m, const float *dlogits, int B);
/* One Adam step (β1 0.9, β2 0.999, ε 1e-8) with decoupled weight decay wd. */
void dc_mlp_adam(dc_mlp *m, float lr, float wd);

#endif
