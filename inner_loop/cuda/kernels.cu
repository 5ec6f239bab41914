/* kernels.cu — the element-wise and reduction kernels of the CUDA backend (the matrix
 * products are cuBLAS calls in backend_cuda.c). fp32 throughout.
 *
 * Reproducibility: no kernel here uses floating-point atomics, so results do not depend on
 * scheduling; the Adam step uses explicitly rounded intrinsics (__fmul_rn, ...) that nvcc
 * never contracts into FMAs, so it matches the CPU reference bit for bit. */
#include "kernels.h"

#include <math.h>

namespace {

constexpr int kThreads = 256;

/* Blocks for a grid-stride loop over n elements: enough to fill any current GPU, capped so
 * the count fits gridDim.x whatever n is. */
unsigned int blocks_for(size_t n)
{
    size_t b = (n + kThreads - 1) / kThreads;
    if (b < 1) b = 1;
    if (b > 65535) b = 65535;
    return (unsigned int)b;
}

__global__ void bias_add_kernel(float *out, const float *bias, size_t n, int OC)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] += bias[i % OC];
}

/* dbias (OC) = Σ_b dout (B,OC). Block (32, 8): 32 adjacent columns (coalesced reads of a
 * row), 8 row-strided partial sums per column, added in a fixed order at the end. */
constexpr int kColTile = 32, kRowLanes = 8;
__global__ void bias_grad_kernel(float *dbias, const float *dout, int B, int OC)
{
    __shared__ float partial[kRowLanes][kColTile + 1];
    int o = blockIdx.x * kColTile + threadIdx.x;
    float sum = 0.0f;
    if (o < OC)
        for (int b = threadIdx.y; b < B; b += kRowLanes)
            sum += dout[(size_t)b * OC + o];
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && o < OC) {
        float total = 0.0f;
        for (int r = 0; r < kRowLanes; r++)
            total += partial[r][threadIdx.x];
        dbias[o] = total;
    }
}

__global__ void relu_forward_kernel(float *out, const float *inp, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

__global__ void relu_backward_kernel(float *dinp, const float *dout, const float *out, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

/* The CPU reference's expression order, each operation rounded as the CPU rounds it. */
__global__ void adam_kernel(float *param, const float *grad, float *m, float *v, size_t n,
                            float lr, float beta1, float beta2, float eps, float wd, float c1,
                            float c2)
{
    const float one_m_b1 = 1.0f - beta1, one_m_b2 = 1.0f - beta2;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float g = grad[i];
        float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(one_m_b1, g));
        float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_m_b2, g), g));
        m[i] = mi;
        v[i] = vi;
        float mhat = __fdiv_rn(mi, c1), vhat = __fdiv_rn(vi, c2);
        float p = param[i];
        float step = __fadd_rn(__fdiv_rn(mhat, __fadd_rn(__fsqrt_rn(vhat), eps)), __fmul_rn(wd, p));
        param[i] = __fsub_rn(p, __fmul_rn(lr, step));
    }
}

__global__ void argmax_correct_kernel(const float *logits, const int *labels, int B, int K,
                                      int *count)
{
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    const float *row = logits + (size_t)b * K;
    int best = 0;
    for (int k = 1; k < K; k++)
        if (row[k] > row[best]) best = k; // first maximum on ties, NaN never wins: as the CPU
    if (best == labels[b]) atomicAdd(count, 1); // integer: order does not matter
}

__global__ void flag_nonfinite_kernel(const float *x, size_t n, int *flag)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        if (!isfinite(x[i])) *flag = 1; // every writer writes 1: the race is benign
}

} // namespace

extern "C" cudaError_t dc_cu_bias_add(float *out, const float *bias, int B, int OC, cudaStream_t s)
{
    size_t n = (size_t)B * OC;
    bias_add_kernel<<<blocks_for(n), kThreads, 0, s>>>(out, bias, n, OC);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_bias_grad(float *dbias, const float *dout, int B, int OC,
                                       cudaStream_t s)
{
    if (B < 1 || OC < 1) return cudaSuccess;
    dim3 block(kColTile, kRowLanes), grid((unsigned int)((OC + kColTile - 1) / kColTile));
    bias_grad_kernel<<<grid, block, 0, s>>>(dbias, dout, B, OC);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_relu_forward(float *out, const float *inp, size_t N, cudaStream_t s)
{
    relu_forward_kernel<<<blocks_for(N), kThreads, 0, s>>>(out, inp, N);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_relu_backward(float *dinp, const float *dout, const float *out,
                                           size_t N, cudaStream_t s)
{
    relu_backward_kernel<<<blocks_for(N), kThreads, 0, s>>>(dinp, dout, out, N);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_adam(float *param, const float *grad, float *m, float *v, size_t N,
                                  float lr, float beta1, float beta2, float eps,
                                  float weight_decay, float c1, float c2, cudaStream_t s)
{
    adam_kernel<<<blocks_for(N), kThreads, 0, s>>>(param, grad, m, v, N, lr, beta1, beta2, eps,
                                                   weight_decay, c1, c2);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_argmax_correct(const float *logits, const int *labels, int B, int K,
                                            int *count, cudaStream_t s)
{
    if (B < 1) return cudaSuccess;
    argmax_correct_kernel<<<(unsigned int)((B + kThreads - 1) / kThreads), kThreads, 0, s>>>(
        logits, labels, B, K, count);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_flag_nonfinite(const float *x, size_t N, int *flag, cudaStream_t s)
{
    flag_nonfinite_kernel<<<blocks_for(N), kThreads, 0, s>>>(x, N, flag);
    return cudaGetLastError();
}
