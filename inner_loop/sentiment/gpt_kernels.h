/* gpt_kernels.h — the layer operations of gpt.c as plain functions on float arrays
 * (forward and backward), so another backend (CUDA) can implement the same list.
 * N below is a number of rows (B*T positions). Backward functions ACCUMULATE (+=) into
 * their gradient outputs, as in llm.c. */
#ifndef DC_GPT_KERNELS_H
#define DC_GPT_KERNELS_H

#include <stddef.h>

void gptk_encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T,
                     int C);
void gptk_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T,
                      int C);

/* mean/rstd may be NULL when no backward follows (inference). */
void gptk_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C);
void gptk_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C);

/* out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC) (bias may be NULL); cblas_sgemm. */
void gptk_matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int OC);
void gptk_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC);

/* Causal self-attention. inp (B, T, 3C) holds q, k, v; att (B, NH, T, T) keeps the softmax
 * for the backward pass; out (B, T, C). */
void gptk_attention_forward(float *out, float *att, const float *inp, int B, int T, int C, int NH);
void gptk_attention_backward(float *dinp, const float *dout, const float *inp, const float *att, int B,
                        int T, int C, int NH);

void gptk_gelu_forward(float *out, const float *inp, int N);
void gptk_gelu_backward(float *dinp, const float *inp, const float *dout, int N);

void gptk_residual_forward(float *out, const float *a, const float *b, int N);
void gptk_residual_backward(float *da, float *db, const float *dout, int N);

/* In place: logits (N, V) become probabilities; logp[i] = log p(targets[i]) (0 when
 * targets[i] < 0). */
void gptk_softmax_logp_forward(float *probs_inout, float *logp, const int *targets, int N, int V);
/* dlogits[i, v] = dlogp[i] · (1[v = target_i] − p_iv); rows with targets < 0 get 0. */
void gptk_softmax_logp_backward(float *dlogits, const float *probs, const int *targets,
                           const float *dlogp, int N, int V);

/* Σ g² over N values, accumulated in double (in a fixed order: both CPU paths of the GPT
 * share it, so they clip alike). */
double gptk_grad_sumsq(const float *g, size_t N);
/* One AdamW step on N values, the gradient scaled by clip; bc1 = 1 − β1^t, bc2 = 1 − β2^t;
 * weight_decay 0: none (decoupled decay otherwise). */
void gptk_adamw_update(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                  float beta1, float beta2, float eps, float weight_decay, float clip, float bc1,
                  float bc2);

#endif
