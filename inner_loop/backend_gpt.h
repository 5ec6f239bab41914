/* backend_gpt.h — the transformer operations of the sentiment task's GPT (sentiment/gpt.c)
 * as a second backend table, so the same training step runs on the CPU or the CUDA plugin.
 *
 * Why a second table rather than more slots in dc_backend_ops: the GPT operations have the
 * llm.c contract — backward functions ACCUMULATE (+=) into their gradients — while
 * backend.h's operations overwrite theirs; one table mixing both contracts would invite
 * exactly the bug the names cannot show. A separate table also keeps DC_BACKEND_ABI (and
 * every fashion plugin built against it) unchanged. The plugin exports both tables; the
 * GPT table borrows memory, errors and the device name from the plain table (`base`), so
 * there is one device, one stream and one sticky error for both.
 *
 * Shapes are those of sentiment/gpt_kernels.h (row-major; N = rows = B*T positions). All
 * pointers are backend memory (device memory on CUDA), int arrays included; the CPU table
 * is gpt_kernels.c itself (sentiment/gpt_ops.c), so CPU numbers do not change. */
#ifndef DC_BACKEND_GPT_H
#define DC_BACKEND_GPT_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever dc_gpt_ops changes layout or meaning. */
#define DC_GPT_ABI 1

typedef struct dc_gpt_ops {
    int abi;                    /* DC_GPT_ABI of the code that filled the table */
    const dc_backend_ops *base; /* memory, errors, name, kind: the same device */

    /* out (B,T,C) = wte[inp] + wpe[t]; inp (B,T) */
    void (*encoder_forward)(float *out, const int *inp, const float *wte, const float *wpe, int B,
                            int T, int C);
    /* dwte (V,C) += scatter of dout (B,T,C) by token; dwpe (T,C) += Σ_b dout */
    void (*encoder_backward)(float *dwte, float *dwpe, const float *dout, const int *inp, int B,
                             int T, int C);
    /* out (N,C); mean, rstd (N) may be NULL when no backward follows */
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C);
    void (*layernorm_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int N, int C);
    /* out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias (OC) (bias may be NULL); overwrites out */
    void (*matmul_forward)(float *out, const float *inp, const float *weight, const float *bias,
                           int N, int C, int OC);
    /* dinp (N,C) +=, dweight (OC,C) +=, dbias (OC) += (dbias may be NULL) */
    void (*matmul_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int N, int C, int OC);
    /* inp (B,T,3C) = q,k,v; att (B,NH,T,T) softmax kept for backward; out (B,T,C) */
    void (*attention_forward)(float *out, float *att, const float *inp, int B, int T, int C,
                              int NH);
    void (*attention_backward)(float *dinp, const float *dout, const float *inp, const float *att,
                               int B, int T, int C, int NH);
    void (*gelu_forward)(float *out, const float *inp, int N);
    void (*gelu_backward)(float *dinp, const float *inp, const float *dout, int N);
    void (*residual_forward)(float *out, const float *a, const float *b, int N);
    void (*residual_backward)(float *da, float *db, const float *dout, int N);
    /* logits (N,V) become probabilities in place; logp (N) = log p(target) (0 where
     * target < 0); targets may be NULL (no logp) */
    void (*softmax_logp_forward)(float *probs_inout, float *logp, const int *targets, int N, int V);
    /* dlogits (N,V) = dlogp · (onehot − p), 0 rows where target < 0 or dlogp == 0; overwrites */
    void (*softmax_logp_backward)(float *dlogits, const float *probs, const int *targets,
                                  const float *dlogp, int N, int V);

    /* Σ g² over N values, accumulated in double (waits): >= 0, or -1 on error */
    double (*grad_sumsq)(const float *grad, size_t N);
    /* One AdamW step on N values with the gradient scaled by clip (global-norm clipping);
     * bc1 = 1 − β1^t, bc2 = 1 − β2^t as gpt.c computes them; weight_decay 0: none. */
    void (*adamw)(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                  float beta1, float beta2, float eps, float weight_decay, float clip, float bc1,
                  float bc2);
} dc_gpt_ops;

/* The plugin's second entry point: the GPT table on the device that dc_cuda_backend_open
 * initialised (call that first), or NULL with the reason. */
#define DC_CUDA_GPT_SYMBOL "dc_cuda_gpt_open"
typedef const dc_gpt_ops *(*dc_cuda_gpt_open_fn)(int abi, char *err, size_t errcap);

/* After dc_backend_select gave the CUDA table: the address of `symbol` in the loaded plugin,
 * or NULL (no plugin loaded, or it lacks the symbol). */
void *dc_backend_cuda_symbol(const char *symbol);

#ifdef __cplusplus
}
#endif

#endif
