/* mlp.c — forward, backward and optimiser step of the MLP (shapes in the comments). */
#include "mlp.h"

#include "../backend.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dc_mlp_init(dc_mlp *m, int in, int hidden, int hidden_layers, int out, int max_batch,
                uint64_t seed, char *err, size_t errcap)
{
    memset(m, 0, sizeof *m);
    if (in < 1 || hidden < 1 || out < 1 || max_batch < 1 || hidden_layers < 1 ||
        hidden_layers > DC_MLP_MAX_HIDDEN_LAYERS) {
        snprintf(err, errcap, "MLP sizes out of range (in %d, hidden %d x %d, out %d, batch %d)",
                 in, hidden, hidden_layers, out, max_batch);
        return -1;
    }
    m->nlin = hidden_layers + 1;
    m->dims[0] = in;
    for (int i = 1; i <= hidden_layers; i++)
        m->dims[i] = hidden;
    m->dims[m->nlin] = out;
    m->max_batch = max_batch;
    for (int i = 0; i < m->nlin; i++)
        m->nparams += (size_t)m->dims[i + 1] * m->dims[i] + (size_t)m->dims[i + 1];
    m->params = calloc(m->nparams, sizeof(float));
    m->grads = calloc(m->nparams, sizeof(float));
    m->m = calloc(m->nparams, sizeof(float));
    m->v = calloc(m->nparams, sizeof(float));
    int ok = m->params && m->grads && m->m && m->v;
    for (int i = 1; i <= m->nlin && ok; i++) {
        m->act[i] = malloc((size_t)max_batch * m->dims[i] * sizeof(float));
        m->dact[i] = malloc((size_t)max_batch * m->dims[i] * sizeof(float));
        ok = m->act[i] && m->dact[i];
    }
    if (!ok) {
        snprintf(err, errcap, "out of memory for an MLP of %zu parameters (batch %d)", m->nparams,
                 max_batch);
        dc_mlp_free(m);
        return -1;
    }
    // views: W0 b0 W1 b1 ... ; weights (OC,C), biases (OC)
    size_t off = 0;
    for (int i = 0; i < m->nlin; i++) {
        size_t nw = (size_t)m->dims[i + 1] * m->dims[i];
        m->W[i] = m->params + off;
        m->dW[i] = m->grads + off;
        off += nw;
        m->b[i] = m->params + off;
        m->db[i] = m->grads + off;
        off += (size_t)m->dims[i + 1];
    }
    // He initialisation: keeps the ReLU activations' variance constant through the layers
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    for (int i = 0; i < m->nlin; i++) {
        double sd = sqrt(2.0 / m->dims[i]);
        size_t nw = (size_t)m->dims[i + 1] * m->dims[i];
        for (size_t j = 0; j < nw; j++)
            m->W[i][j] = (float)(sd * dc_rng_normal(&rng));
    }
    return 0;
}

void dc_mlp_free(dc_mlp *m)
{
    free(m->params);
    free(m->grads);
    free(m->m);
    free(m->v);
    for (int i = 1; i <= DC_MLP_MAX_HIDDEN_LAYERS + 1; i++) {
        free(m->act[i]);
        free(m->dact[i]);
    }
    memset(m, 0, sizeof *m);
}

const float *dc_mlp_forward(dc_mlp *m, const float *x, int B)
{
    m->act0 = x;
    const float *inp = x; // (B, dims[0])
    for (int i = 0; i < m->nlin; i++) {
        float *out = m->act[i + 1]; // (B, dims[i+1])
        dc_linear_forward(out, inp, m->W[i], m->b[i], B, m->dims[i], m->dims[i + 1]);
        if (i + 1 < m->nlin) dc_relu_forward(out, out, (size_t)B * m->dims[i + 1]);
        inp = out;
    }
    return m->act[m->nlin]; // (B, out)
}

void dc_mlp_backward(dc_mlp *m, const float *dlogits, int B)
{
    const float *dout = dlogits; // (B, dims[i+1])
    for (int i = m->nlin - 1; i >= 0; i--) {
        const float *inp = i == 0 ? m->act0 : m->act[i]; // (B, dims[i])
        float *dinp = i == 0 ? NULL : m->dact[i];        // the input layer needs no gradient
        dc_linear_backward(dinp, m->dW[i], m->db[i], dout, inp, m->W[i], B, m->dims[i],
                           m->dims[i + 1]);
        if (dinp) dc_relu_backward(dinp, dinp, m->act[i], (size_t)B * m->dims[i]);
        dout = dinp;
    }
}

void dc_mlp_adam(dc_mlp *m, float lr, float wd)
{
    m->t++;
    dc_adam_update(m->params, m->grads, m->m, m->v, m->nparams, lr, 0.9f, 0.999f, 1e-8f, wd, m->t);
}
