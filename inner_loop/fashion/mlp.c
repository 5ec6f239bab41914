/* mlp.c — forward, backward and optimiser step of the MLP (shapes in the comments), every
 * operation through the backend table. */
#include "mlp.h"

#include "common/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dc_mlp_init(dc_mlp *m, const dc_backend_ops *be, int in, int hidden, int hidden_layers,
                int out, int max_batch, uint64_t seed, char *err, size_t errcap)
{
    memset(m, 0, sizeof *m);
    if (in < 1 || hidden < 1 || out < 1 || max_batch < 1 || hidden_layers < 1 ||
        hidden_layers > DC_MLP_MAX_HIDDEN_LAYERS) {
        snprintf(err, errcap, "MLP sizes out of range (in %d, hidden %d x %d, out %d, batch %d)",
                 in, hidden, hidden_layers, out, max_batch);
        return -1;
    }
    m->be = be;
    m->nlin = hidden_layers + 1;
    m->dims[0] = in;
    for (int i = 1; i <= hidden_layers; i++)
        m->dims[i] = hidden;
    m->dims[m->nlin] = out;
    m->max_batch = max_batch;
    for (int i = 0; i < m->nlin; i++)
        m->nparams += (size_t)m->dims[i + 1] * m->dims[i] + (size_t)m->dims[i + 1];
    size_t pbytes = m->nparams * sizeof(float);
    m->params = be->alloc(pbytes);
    m->grads = be->alloc(pbytes);
    m->m = be->alloc(pbytes);
    m->v = be->alloc(pbytes);
    int ok = m->params && m->grads && m->m && m->v;
    for (int i = 1; i <= m->nlin && ok; i++) {
        size_t abytes = (size_t)max_batch * m->dims[i] * sizeof(float);
        m->act[i] = be->alloc(abytes);
        m->dact[i] = be->alloc(abytes);
        ok = m->act[i] && m->dact[i];
    }
    // He initialisation on the host: keeps the ReLU activations' variance constant through
    // the layers, and gives every backend the same starting point for a seed
    float *init = ok ? calloc(m->nparams, sizeof(float)) : NULL;
    if (!init) {
        char why[256] = "";
        be->error(why, sizeof why);
        snprintf(err, errcap, "out of memory for an MLP of %zu parameters (batch %d) on %s%s%s",
                 m->nparams, max_batch, be->name(), why[0] ? ": " : "", why);
        dc_mlp_free(m);
        return -1;
    }
    // views: W0 b0 W1 b1 ... ; weights (OC,C), biases (OC)
    size_t off = 0;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    for (int i = 0; i < m->nlin; i++) {
        size_t nw = (size_t)m->dims[i + 1] * m->dims[i];
        double sd = sqrt(2.0 / m->dims[i]);
        for (size_t j = 0; j < nw; j++)
            init[off + j] = (float)(sd * dc_rng_normal(&rng));
        m->W[i] = m->params + off;
        m->dW[i] = m->grads + off;
        off += nw;
        m->b[i] = m->params + off;
        m->db[i] = m->grads + off;
        off += (size_t)m->dims[i + 1];
    }
    be->upload(m->params, init, pbytes);
    free(init);
    char why[256] = "";
    if (be->synchronize()) {
        be->error(why, sizeof why);
        snprintf(err, errcap, "MLP initialisation on %s failed: %s", be->name(), why);
        dc_mlp_free(m);
        return -1;
    }
    return 0;
}

void dc_mlp_free(dc_mlp *m)
{
    if (m->be) {
        m->be->free(m->params);
        m->be->free(m->grads);
        m->be->free(m->m);
        m->be->free(m->v);
        for (int i = 1; i <= DC_MLP_MAX_HIDDEN_LAYERS + 1; i++) {
            m->be->free(m->act[i]);
            m->be->free(m->dact[i]);
        }
    }
    memset(m, 0, sizeof *m);
}

const float *dc_mlp_forward(dc_mlp *m, const float *x, int B)
{
    const dc_backend_ops *be = m->be;
    m->act0 = x;
    const float *inp = x; // (B, dims[0])
    for (int i = 0; i < m->nlin; i++) {
        float *out = m->act[i + 1]; // (B, dims[i+1])
        be->linear_forward(out, inp, m->W[i], m->b[i], B, m->dims[i], m->dims[i + 1]);
        if (i + 1 < m->nlin) be->relu_forward(out, out, (size_t)B * m->dims[i + 1]);
        inp = out;
    }
    return m->act[m->nlin]; // (B, out)
}

void dc_mlp_backward(dc_mlp *m, const float *dlogits, int B)
{
    const dc_backend_ops *be = m->be;
    const float *dout = dlogits; // (B, dims[i+1])
    for (int i = m->nlin - 1; i >= 0; i--) {
        const float *inp = i == 0 ? m->act0 : m->act[i]; // (B, dims[i])
        float *dinp = i == 0 ? NULL : m->dact[i];        // the input layer needs no gradient
        be->linear_backward(dinp, m->dW[i], m->db[i], dout, inp, m->W[i], B, m->dims[i],
                            m->dims[i + 1]);
        if (dinp) be->relu_backward(dinp, dinp, m->act[i], (size_t)B * m->dims[i]);
        dout = dinp;
    }
}

void dc_mlp_adam(dc_mlp *m, float lr, float wd)
{
    m->t++;
    m->be->adam_update(m->params, m->grads, m->m, m->v, m->nparams, lr, 0.9f, 0.999f, 1e-8f, wd,
                       m->t);
}
