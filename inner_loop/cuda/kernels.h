/* kernels.h — the CUDA kernels of the plugin, as C-callable launchers (kernels.cu).
 *
 * Each launcher queues its kernel on stream s and returns cudaGetLastError() (a launch
 * configuration error, or an earlier asynchronous failure that surfaced). Shapes follow
 * backend.h: row-major, activations (B,C), weights (OC,C). */
#ifndef DC_CUDA_KERNELS_H
#define DC_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out (B,OC) += bias (OC) broadcast over rows. */
cudaError_t dc_cu_bias_add(float *out, const float *bias, int B, int OC, cudaStream_t s);
/* dbias (OC) = Σ_b dout (B,OC), a fixed-order reduction (deterministic, no atomics). */
cudaError_t dc_cu_bias_grad(float *dbias, const float *dout, int B, int OC, cudaStream_t s);
/* out (N) = max(0, inp (N)); in place allowed. */
cudaError_t dc_cu_relu_forward(float *out, const float *inp, size_t N, cudaStream_t s);
/* dinp (N) = out > 0 ? dout : 0; dinp == dout allowed. */
cudaError_t dc_cu_relu_backward(float *dinp, const float *dout, const float *out, size_t N,
                                cudaStream_t s);
/* Fused AdamW step on N parameters; c1 = 1 - beta1^t, c2 = 1 - beta2^t (computed by the
 * caller in double, as the CPU reference does). */
cudaError_t dc_cu_adam(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                       float beta1, float beta2, float eps, float weight_decay, float c1, float c2,
                       cudaStream_t s);
/* *count += rows b of logits (B,K) whose first maximum is at labels[b]. The caller zeroes
 * *count first. */
cudaError_t dc_cu_argmax_correct(const float *logits, const int *labels, int B, int K, int *count,
                                 cudaStream_t s);
/* *flag = 1 when any of x (N) is NaN or infinite (the caller zeroes *flag first). */
cudaError_t dc_cu_flag_nonfinite(const float *x, size_t N, int *flag, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
