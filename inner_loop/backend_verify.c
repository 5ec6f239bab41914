/* backend_verify.c — a start-up self-check of a backend table against the CPU reference.
 *
 * Why: a backend that loads and initialises can still compute wrong numbers (a kernel bug,
 * a toolkit or driver mismatch, TF32 switched on behind our back), and a campaign would then
 * train every candidate wrongly without any error. Before `auto` or `cuda` hands out the
 * CUDA table, one tiny linear layer (odd sizes, so partial tiles are exercised) goes
 * forward, through ReLU, backward and one Adam step on both tables; every result must agree
 * with the CPU's to fp32 accuracy. It costs a few milliseconds once per process. */
#include "backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VB = 13, VC = 37, VOC = 11 };

double dc_scaled_diff(const float *a, const float *b, size_t n)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst)) worst = d; // NaN sticks
    }
    return worst / (scale > 0 ? scale : 1);
}

/* The host inputs of the check, from a fixed formula (no RNG state to share). */
typedef struct {
    float inp[VB * VC], w[VOC * VC], b[VOC], dout[VB * VOC];
    float g[VOC * VC]; /* Adam's gradient: fixed and far from 0, so no sign is rounding noise */
    int labels[VB];
} vinputs;

/* The host results of one backend. */
typedef struct {
    float out[VB * VOC], act[VB * VOC], dact[VB * VOC], dinp[VB * VC], dw[VOC * VC], db[VOC];
    float w1[VOC * VC], m1[VOC * VC], v1[VOC * VC];
    int correct, finite;
} vresults;

static void make_inputs(vinputs *x)
{
    for (int i = 0; i < VB * VC; i++)
        x->inp[i] = (float)sin(0.37 * i + 0.1);
    for (int i = 0; i < VOC * VC; i++)
        x->w[i] = (float)(0.2 * cos(1.3 * i));
    for (int i = 0; i < VOC; i++)
        x->b[i] = (float)(0.05 * i - 0.2);
    for (int i = 0; i < VB * VOC; i++)
        x->dout[i] = (float)sin(2.1 * i + 0.5);
    for (int i = 0; i < VB; i++)
        x->labels[i] = (i * 5) % VOC;
    for (int i = 0; i < VOC * VC; i++)
        x->g[i] = (float)((i % 2 ? 1 : -1) * (0.01 + 0.1 * fabs(sin(0.7 * i))));
}

/* One forward / backward / Adam step on ops; 0, or -1 with the backend's message. */
static int run(const dc_backend_ops *o, const vinputs *x, vresults *r, char *err, size_t cap)
{
    size_t fin = sizeof x->inp, fw = sizeof x->w, fb = sizeof x->b, fo = sizeof x->dout;
    o->clear_error();
    float *inp = o->alloc(fin), *w = o->alloc(fw), *b = o->alloc(fb), *out = o->alloc(fo),
          *act = o->alloc(fo), *dout = o->alloc(fo), *dact = o->alloc(fo), *dinp = o->alloc(fin),
          *dw = o->alloc(fw), *db = o->alloc(fb), *m = o->alloc(fw), *v = o->alloc(fw),
          *g = o->alloc(fw);
    int *lab = o->alloc(sizeof x->labels);
    int rc = -1;
    if (inp && w && b && out && act && dout && dact && dinp && dw && db && m && v && g && lab) {
        o->upload(inp, x->inp, fin);
        o->upload(w, x->w, fw);
        o->upload(b, x->b, fb);
        o->upload(dout, x->dout, fo);
        o->upload(lab, x->labels, sizeof x->labels);
        o->upload(g, x->g, fw);
        o->linear_forward(out, inp, w, b, VB, VC, VOC);
        o->relu_forward(act, out, (size_t)VB * VOC);
        o->relu_backward(dact, dout, act, (size_t)VB * VOC);
        o->linear_backward(dinp, dw, db, dact, inp, w, VB, VC, VOC);
        r->correct = o->argmax_correct(out, lab, VB, VOC);
        r->finite = o->all_finite(out, (size_t)VB * VOC);
        o->adam_update(w, g, m, v, (size_t)VOC * VC, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 1);
        if (o->download(r->out, out, fo) == 0 && o->download(r->act, act, fo) == 0 &&
            o->download(r->dact, dact, fo) == 0 && o->download(r->dinp, dinp, fin) == 0 &&
            o->download(r->dw, dw, fw) == 0 && o->download(r->db, db, fb) == 0 &&
            o->download(r->w1, w, fw) == 0 && o->download(r->m1, m, fw) == 0 &&
            o->download(r->v1, v, fw) == 0)
            rc = 0;
    }
    if (rc != 0 && !o->error(err, cap)) snprintf(err, cap, "out of backend memory");
    void *bufs[] = {inp, w, b, out, act, dout, dact, dinp, dw, db, m, v, g, lab};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        o->free(bufs[i]);
    return rc;
}

int dc_backend_verify(const dc_backend_ops *cand, const dc_backend_ops *ref, char *err,
                      size_t errcap)
{
    static vinputs x;
    static vresults a, b;
    make_inputs(&x);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    char why[512] = "";
    if (run(ref, &x, &b, why, sizeof why) != 0) {
        snprintf(err, errcap, "the reference backend failed the self-check: %s", why);
        return -1;
    }
    if (run(cand, &x, &a, why, sizeof why) != 0) {
        snprintf(err, errcap, "self-check: %s", why);
        return -1;
    }
    /* fp32 both sides, summed in other orders: 1e-5 of each tensor's scale (forward), 1e-4
     * (gradients); the Adam step (same fixed gradient on both) to 1e-4. The inputs keep every
     * pre-activation at least 1e-3 from 0 (tests/inner_loop/test_backend.c checks it), so
     * no ReLU mask can flip on rounding. */
    struct {
        const char *what;
        const float *got, *want;
        size_t n;
        double tol;
    } cmp[] = {
        {"linear_forward", a.out, b.out, VB * VOC, 1e-5},
        {"relu_forward", a.act, b.act, VB * VOC, 1e-5},
        {"relu_backward", a.dact, b.dact, VB * VOC, 1e-5},
        {"linear_backward (input gradient)", a.dinp, b.dinp, VB * VC, 1e-4},
        {"linear_backward (weight gradient)", a.dw, b.dw, VOC * VC, 1e-4},
        {"linear_backward (bias gradient)", a.db, b.db, VOC, 1e-4},
        {"adam_update (weights)", a.w1, b.w1, VOC * VC, 1e-4},
        {"adam_update (first moment)", a.m1, b.m1, VOC * VC, 1e-4},
        {"adam_update (second moment)", a.v1, b.v1, VOC * VC, 1e-4},
    };
    for (size_t i = 0; i < sizeof cmp / sizeof *cmp; i++) {
        double d = dc_scaled_diff(cmp[i].got, cmp[i].want, cmp[i].n);
        if (!(d <= cmp[i].tol)) {
            snprintf(err, errcap,
                     "self-check: %s differs from the CPU's by %.3g of its scale "
                     "(tolerance %g)",
                     cmp[i].what, d, cmp[i].tol);
            return -1;
        }
    }
    if (a.correct != b.correct || a.finite != b.finite) {
        snprintf(err, errcap, "self-check: argmax_correct/all_finite answer %d/%d, the CPU %d/%d",
                 a.correct, a.finite, b.correct, b.finite);
        return -1;
    }
    return 0;
}

double dc_backend_verify_margin(const dc_backend_ops *ops)
{
    static vinputs x;
    static vresults r;
    char why[256];
    make_inputs(&x);
    if (run(ops, &x, &r, why, sizeof why) != 0) return -1;
    double m = INFINITY;
    for (int i = 0; i < VB * VOC; i++)
        m = fmin(m, fabs((double)r.out[i]));
    return m;
}
