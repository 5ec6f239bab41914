/* gpt_kernels_cuda.h — the CUDA kernels of the GPT table (gpt_kernels.cu) as C-callable
 * launchers. Contracts and shapes are those of ../sentiment/gpt_kernels.h (backward
 * launchers ACCUMULATE into their gradients); the matrix products are cuBLAS calls in
 * backend_cuda_gpt.c. Each launcher queues its kernels on stream s and returns
 * cudaGetLastError(). No kernel uses floating-point atomics: results do not depend on
 * scheduling. */
#ifndef DC_GPT_KERNELS_CUDA_H
#define DC_GPT_KERNELS_CUDA_H

#include <cuda_runtime_api.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

cudaError_t dc_cu_encoder_forward(float *out, const int *inp, const float *wte, const float *wpe,
                                  int B, int T, int C, cudaStream_t s);
cudaError_t dc_cu_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp,
                                   int B, int T, int C, cudaStream_t s);
cudaError_t dc_cu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                    const float *weight, const float *bias, int N, int C,
                                    cudaStream_t s);
cudaError_t dc_cu_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                     const float *inp, const float *weight, const float *mean,
                                     const float *rstd, int N, int C, cudaStream_t s);
/* dbias (OC) += Σ_n dout (N,OC) */
cudaError_t dc_cu_bias_grad_acc(float *dbias, const float *dout, int N, int OC, cudaStream_t s);
cudaError_t dc_cu_attention_forward(float *out, float *att, const float *inp, int B, int T, int C,
                                    int NH, cudaStream_t s);
/* dpre: scratch of B*NH*T*T floats */
cudaError_t dc_cu_attention_backward(float *dinp, const float *dout, const float *inp,
                                     const float *att, float *dpre, int B, int T, int C, int NH,
                                     cudaStream_t s);
cudaError_t dc_cu_gelu_forward(float *out, const float *inp, int N, cudaStream_t s);
cudaError_t dc_cu_gelu_backward(float *dinp, const float *inp, const float *dout, int N,
                                cudaStream_t s);
cudaError_t dc_cu_residual_forward(float *out, const float *a, const float *b, int N,
                                   cudaStream_t s);
cudaError_t dc_cu_residual_backward(float *da, float *db, const float *dout, int N,
                                    cudaStream_t s);
cudaError_t dc_cu_softmax_logp_forward(float *probs, float *logp, const int *targets, int N, int V,
                                       cudaStream_t s);
cudaError_t dc_cu_softmax_logp_backward(float *dlogits, const float *probs, const int *targets,
                                        const float *dlogp, int N, int V, cudaStream_t s);
/* partials: scratch of DC_CU_SUMSQ_BLOCKS + 1 doubles; the total lands in partials[0] */
#define DC_CU_SUMSQ_BLOCKS 256
cudaError_t dc_cu_sumsq(const float *x, size_t N, double *partials, cudaStream_t s);
cudaError_t dc_cu_adamw_clip(float *param, const float *grad, float *m, float *v, size_t N,
                             float lr, float beta1, float beta2, float eps, float weight_decay,
                             float clip, float bc1, float bc2, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
