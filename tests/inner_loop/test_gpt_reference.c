/* test_gpt_reference.c — the sentiment task's GPT (gpt.h, CPU) against an independent
 * PyTorch implementation (tests/reference/make_reference.py → tests/reference/gpt.bin), as
 * llm.c's test_gpt2.c checks its model: a tiny configuration (vocab 48, context 12, 2
 * layers, width 16, 4 heads) with the fixture's parameters and batch (3 sequences, T = 10,
 * padded and prompt positions not scored) must reproduce
 *   - the per-token log-probs of the targets and the whole softmax at every position,
 *   - the mean NLL over the scored positions (sent_lm_step's loss),
 *   - the gradient of that loss for each of the 16 parameter tensors,
 *   - over 3 steps of clip + AdamW (gpt_adamw with the fixture's hyper-parameters): the
 *     loss and gradient norm of every step and every parameter after the last step.
 * The reference is computed in float64 from the same float32 parameters, so the tolerances
 * below bound the C model's own float32 error (worst values seen: the test prints them):
 *   log-probs            |err| <= 2e-5 + 1e-5 |ref|   (logs of softmaxes of O(5) logits)
 *   probabilities        |err| <= 1e-6 + 1e-5 |ref|
 *   losses               |err| <= 1e-5 + 1e-5 |ref|
 *   gradients            |err| <= 1e-6 + 1e-4 |ref|   (largest entries ~0.1 to 0.6)
 *   gradient norms       |err| <= 1e-5 |ref|
 *   parameters after     |err| <= 1e-5 + 1e-5 |ref|   (lr 1e-2: each step moves ~1e-2)
 *   ... but key biases   |err| <= 1.05 lr per step (see below)
 * The key biases (qkvb's middle third) have a gradient of exactly 0: adding a constant to
 * every key of a head adds the same q·b to each of a query's scores, which the softmax
 * ignores. The gradient check holds C's to |g| <= 1e-6 (they are float32 rounding noise,
 * ~3e-8). But Adam divides that noise by its own magnitude (+ eps 1e-8) and moves them by
 * a sizeable fraction of lr, while the float64 reference does not move them at all; so
 * after the steps they are only held to Adam's own bound (|m̂|/√v̂ <= 1.001 at
 * betas 0.9/0.95 over 3 steps), which still fails if they were decayed or updated wrongly
 * by more than a step. (The wpe rows past T have a zero gradient too, but exactly 0 in C
 * as well: nothing is added to them, so only the decay moves them, on both sides.)
 * A gradient that is off by a few percent anywhere fails the gradient check of its tensor
 * (and usually of every tensor below it); a wrong decay rule, clip or bias correction
 * fails the parameters after the steps. */
#include "tests/test.h"

#include "inner_loop/sentiment/gpt.h"
#include "ref_fixture.h"

#include <stdlib.h>

static const char *const PARAM_NAMES[GPT_NUM_PARAM_TENSORS] = {
    "wte",  "wpe",  "ln1w", "ln1b", "qkvw",    "qkvb",    "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw",  "fcb",  "fcprojw", "fcprojb", "lnfw",     "lnfb"};

/* Tolerances (see the top). */
#define LOGP_ATOL 2e-5
#define LOGP_RTOL 1e-5
#define PROB_ATOL 1e-6
#define PROB_RTOL 1e-5
#define LOSS_ATOL 1e-5
#define LOSS_RTOL 1e-5
#define GRAD_ATOL 1e-6
#define GRAD_RTOL 1e-4
#define NORM_RTOL 1e-5
#define PARAM_ATOL 1e-5
#define PARAM_RTOL 1e-5
#define KEY_BIAS_STEP_BOUND 1.05 /* the most one Adam step moves a parameter, in lr */

/* The fixture's contents (pointers into the ref_file). */
typedef struct {
    gpt_config cfg;
    int B, T, steps;
    float lr, beta1, beta2, eps, weight_decay, max_norm;
    const int32_t *inputs, *targets;
    const float *params, *logp, *probs, *loss, *grad_norm, *grads, *params_after;
} gpt_ref;

static int load(ref_file *f, gpt_ref *r, size_t *nparams)
{
    if (ref_open(f, "gpt.bin", REF_KIND_GPT) != 0) return -1;
    const int32_t *h = f->header;
    r->cfg = (gpt_config){.vocab = h[3], .ctx = h[4], .layers = h[5], .width = h[6], .heads = h[7]};
    r->B = h[8];
    r->T = h[9];
    r->steps = h[10];
    char err[200];
    if (gpt_config_check(&r->cfg, err, sizeof err) != 0 || r->B < 1 || r->B > 64 || r->T < 1 ||
        r->T > r->cfg.ctx || r->steps < 1 || r->steps > 100) {
        fprintf(stderr, "%s: bad configuration (B %d, T %d, steps %d): %s\n", f->path, r->B, r->T,
                r->steps, err);
        return -1;
    }
    r->lr = f->hyper[0];
    r->beta1 = f->hyper[1];
    r->beta2 = f->hyper[2];
    r->eps = f->hyper[3];
    r->weight_decay = f->hyper[4];
    r->max_norm = f->hyper[5];
    // the parameter count from the C model's own layout: a fixture whose layout differs
    // then fails the size check below instead of being read shifted
    gpt_model probe;
    if (gpt_init(&probe, &r->cfg, 1) != 0) return -1;
    *nparams = probe.nparams;
    gpt_free(&probe);
    size_t BT = (size_t)r->B * r->T, N = *nparams, S = (size_t)r->steps;
    r->inputs = ref_ints(f, BT, "inputs");
    r->targets = ref_ints(f, BT, "targets");
    r->params = ref_floats(f, N, "params");
    r->logp = ref_floats(f, BT, "logp");
    r->probs = ref_floats(f, BT * r->cfg.vocab, "probs");
    r->loss = ref_floats(f, S + 1, "loss");
    r->grad_norm = ref_floats(f, S, "grad_norm");
    r->grads = ref_floats(f, N, "grads");
    r->params_after = ref_floats(f, N, "params_after");
    if (!r->params_after) return -1;
    if (f->pos != f->size) {
        fprintf(stderr, "%s: %zu bytes left over: not this model's layout\n", f->path,
                f->size - f->pos);
        return -1;
    }
    for (size_t i = 0; i < BT; i++)
        if (r->inputs[i] < 0 || r->inputs[i] >= r->cfg.vocab || r->targets[i] >= r->cfg.vocab) {
            fprintf(stderr, "%s: token %zu out of range\n", f->path, i);
            return -1;
        }
    return 0;
}

/* The loss sent_lm_step optimises: the mean NLL over the scored positions, in double; and
 * its d/d logp (-1/count on scored positions). */
static double mean_nll(const gpt_ref *r, const float *logp, float *dlogp)
{
    int BT = r->B * r->T, count = 0;
    double nll = 0;
    for (int i = 0; i < BT; i++)
        if (r->targets[i] >= 0) {
            count++;
            nll -= logp[i];
        }
    for (int i = 0; i < BT; i++)
        dlogp[i] = r->targets[i] >= 0 ? -1.0f / (float)count : 0.0f;
    return count ? nll / count : NAN;
}

/* Each parameter tensor of flat arrays got / ref, named "<what> <tensor>"; with
 * split_key_bias, qkvb's query and value biases apart from its key biases (atol key_atol). */
static void near_per_tensor(const gpt_model *m, const char *what, const float *got,
                            const float *ref, double atol, double rtol, int split_key_bias,
                            double key_atol)
{
    size_t off = 0;
    for (int t = 0; t < GPT_NUM_PARAM_TENSORS; t++) {
        char name[64];
        size_t n = m->param_sizes[t];
        if (t == 5 && split_key_bias) { // qkvb (L, 3C): per layer q | k | v
            int L = m->cfg.layers, C = m->cfg.width;
            float *qv = malloc(2 * n * sizeof(float)); // n = 3LC: room for both copies
            CHECK(qv != NULL);
            if (!qv) return;
            float *qv_ref = qv + 2 * L * C, *k = qv_ref + 2 * L * C, *k_ref = k + L * C;
            size_t nqv = 0, nk = 0;
            for (int l = 0; l < L; l++)
                for (int j = 0; j < 3 * C; j++) {
                    size_t i = off + (size_t)l * 3 * C + j;
                    if (j >= C && j < 2 * C) {
                        k[nk] = got[i];
                        k_ref[nk++] = ref[i];
                    } else {
                        qv[nqv] = got[i];
                        qv_ref[nqv++] = ref[i];
                    }
                }
            snprintf(name, sizeof name, "%s qkvb (q, v)", what);
            ref_near(name, qv, qv_ref, nqv, atol, rtol);
            snprintf(name, sizeof name, "%s qkvb (k)", what);
            ref_near(name, k, k_ref, nk, key_atol, 0);
            free(qv);
        } else {
            snprintf(name, sizeof name, "%s %s", what, PARAM_NAMES[t]);
            ref_near(name, got + off, ref + off, n, atol, rtol);
        }
        off += n;
    }
}

static void test_reference(void)
{
    ref_file f;
    gpt_ref r;
    size_t N = 0;
    int loaded = load(&f, &r, &N) == 0;
    CHECK_MSG(loaded, "the fixture tests/reference/gpt.bin loads");
    if (!loaded) {
        ref_close(&f);
        return;
    }
    size_t BT = (size_t)r.B * r.T;
    gpt_model m;
    float *logp = malloc(BT * sizeof *logp), *dlogp = malloc(BT * sizeof *dlogp);
    float *probs = malloc(BT * r.cfg.vocab * sizeof *probs), *grads = malloc(N * sizeof *grads);
    int *inputs = malloc(BT * sizeof *inputs), *targets = malloc(BT * sizeof *targets);
    CHECK(logp && dlogp && probs && grads && inputs && targets);
    int inited = gpt_init(&m, &r.cfg, 1) == 0;
    CHECK(inited);
    if (!inited || !logp || !dlogp || !probs || !grads || !inputs || !targets) goto out;
    memcpy(m.params_mem, r.params, N * sizeof(float));
    for (size_t i = 0; i < BT; i++) {
        inputs[i] = r.inputs[i];
        targets[i] = r.targets[i];
    }

    // forward and backward at the fixture's parameters
    CHECK(gpt_forward(&m, inputs, targets, r.B, r.T, logp) == 0);
    CHECK(gpt_copy_probs(&m, probs) == 0);
    ref_near("log-probs", logp, r.logp, BT, LOGP_ATOL, LOGP_RTOL);
    ref_near("probabilities", probs, r.probs, BT * r.cfg.vocab, PROB_ATOL, PROB_RTOL);
    float loss = (float)mean_nll(&r, logp, dlogp);
    ref_near("loss", &loss, &r.loss[0], 1, LOSS_ATOL, LOSS_RTOL);
    CHECK(gpt_zero_grad(&m) == 0);
    CHECK(gpt_backward(&m, dlogp) == 0);
    CHECK(gpt_copy_grads(&m, grads) == 0);
    near_per_tensor(&m, "gradient", grads, r.grads, GRAD_ATOL, GRAD_RTOL, 1, GRAD_ATOL);

    // the optimiser: forward, backward, clip + AdamW, as sent_lm_step
    for (int s = 0; s < r.steps; s++) {
        char name[64];
        CHECK(gpt_forward(&m, inputs, targets, r.B, r.T, logp) == 0);
        loss = (float)mean_nll(&r, logp, dlogp);
        snprintf(name, sizeof name, "loss before step %d", s + 1);
        ref_near(name, &loss, &r.loss[s], 1, LOSS_ATOL, LOSS_RTOL);
        CHECK(gpt_zero_grad(&m) == 0);
        CHECK(gpt_backward(&m, dlogp) == 0);
        float norm = gpt_adamw(&m, r.lr, r.beta1, r.beta2, r.eps, r.weight_decay, r.max_norm);
        snprintf(name, sizeof name, "gradient norm at step %d", s + 1);
        ref_near(name, &norm, &r.grad_norm[s], 1, 0, NORM_RTOL);
    }
    CHECK(r.grad_norm[0] > r.max_norm); // the fixture exercises the clip
    CHECK(gpt_forward(&m, inputs, targets, r.B, r.T, logp) == 0);
    loss = (float)mean_nll(&r, logp, dlogp);
    ref_near("loss after the steps", &loss, &r.loss[r.steps], 1, LOSS_ATOL, LOSS_RTOL);
    near_per_tensor(&m, "after the steps", m.params_mem, r.params_after, PARAM_ATOL, PARAM_RTOL, 1,
                    KEY_BIAS_STEP_BOUND * r.steps * r.lr);
out:
    gpt_free(&m);
    free(logp);
    free(dlogp);
    free(probs);
    free(grads);
    free(inputs);
    free(targets);
    ref_close(&f);
}

int main(void)
{
    test_reference();
    return TEST_REPORT();
}
