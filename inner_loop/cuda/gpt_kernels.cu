/* gpt_kernels.cu — CUDA kernels of the sentiment GPT's layers (the list of
 * ../sentiment/gpt_kernels.h), fp32, after llm.c's CUDA kernels but simpler: the model is
 * small (width ~100, context ~32), so one thread per row/position/head is enough and keeps
 * each kernel's summation order close to the CPU reference's.
 *
 * Determinism: no floating-point atomics. Where several positions add into one gradient
 * (token embeddings, layernorm and bias parameters, attention keys/values) one thread owns
 * each output element and adds the contributions in a fixed order. */
#include "gpt_kernels_cuda.h"

#include <math.h>

namespace {

constexpr int kThreads = 256;

unsigned int blocks_for(size_t n)
{
    size_t b = (n + kThreads - 1) / kThreads;
    if (b < 1) b = 1;
    if (b > 65535) b = 65535;
    return (unsigned int)b;
}

#define GRID_STRIDE(i, n)                                                                  \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                \
         i += (size_t)gridDim.x * blockDim.x)

__device__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// ---- embeddings ----

__global__ void encoder_forward_kernel(float *out, const int *inp, const float *wte,
                                       const float *wpe, int T, int C, size_t n)
{
    GRID_STRIDE(i, n)
    {
        size_t bt = i / C;
        int c = (int)(i % C), t = (int)(bt % T);
        out[i] = wte[(size_t)inp[bt] * C + c] + wpe[(size_t)t * C + c];
    }
}

/* dwpe (T,C) += Σ_b dout: one thread per (t,c), b in order (the CPU's order). */
__global__ void encoder_dwpe_kernel(float *dwpe, const float *dout, int B, int T, int C)
{
    size_t n = (size_t)T * C;
    GRID_STRIDE(i, n)
    {
        float acc = dwpe[i];
        for (int b = 0; b < B; b++) acc += dout[(size_t)b * n + i];
        dwpe[i] = acc;
    }
}

/* dwte (V,C) += dout rows scattered by token. Thread (c, slice): owns the rows of tokens
 * with id % slices == slice, and adds their positions in order (the CPU's order per row). */
constexpr int kTokenSlices = 32;
__global__ void encoder_dwte_kernel(float *dwte, const float *dout, const int *inp, int BT, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x, slice = blockIdx.y;
    if (c >= C) return;
    for (int p = 0; p < BT; p++) {
        int tok = inp[p];
        if (tok % kTokenSlices != slice) continue;
        dwte[(size_t)tok * C + c] += dout[(size_t)p * C + c];
    }
}

// ---- layernorm: one warp per row ----

__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                         const float *weight, const float *bias, int N, int C)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += x[i];
    float m = warp_sum(s) / (float)C;
    float v = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float d = x[i] - m;
        v += d * d;
    }
    v = warp_sum(v) / (float)C;
    float r = 1.0f / sqrtf(v + 1e-5f);
    float *o = out + (size_t)row * C;
    for (int i = lane; i < C; i += 32) o[i] = (r * (x[i] - m)) * weight[i] + bias[i];
    if (lane == 0) {
        if (mean) mean[row] = m;
        if (rstd) rstd[row] = r;
    }
}

__global__ void layernorm_dinp_kernel(float *dinp, const float *dout, const float *inp,
                                      const float *weight, const float *mean, const float *rstd,
                                      int N, int C)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *d = dout + (size_t)row * C, *x = inp + (size_t)row * C;
    float *dx = dinp + (size_t)row * C;
    float m = mean[row], r = rstd[row];
    float dm = 0.0f, dnm = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float norm = (x[i] - m) * r, dnorm = weight[i] * d[i];
        dm += dnorm;
        dnm += dnorm * norm;
    }
    dm = warp_sum(dm) / (float)C;
    dnm = warp_sum(dnm) / (float)C;
    for (int i = lane; i < C; i += 32) {
        float norm = (x[i] - m) * r, dnorm = weight[i] * d[i];
        dx[i] += (dnorm - dm - norm * dnm) * r;
    }
}

/* Column sums over N rows, block (32 columns, kRowLanes row lanes): each lane sums a
 * row-strided subset, the lanes are added in order at the end. With inp == NULL:
 * dbias += Σ dout (a bias gradient); else also dweight += Σ norm·dout (layernorm). */
constexpr int kColTile = 32, kRowLanes = 16;
__global__ void column_grad_kernel(float *dweight, float *dbias, const float *dout,
                                   const float *inp, const float *mean, const float *rstd, int N,
                                   int C)
{
    __shared__ float pb[kRowLanes][kColTile + 1], pw[kRowLanes][kColTile + 1];
    int c = blockIdx.x * kColTile + threadIdx.x;
    float sb = 0.0f, sw = 0.0f;
    if (c < C)
        for (int n = threadIdx.y; n < N; n += kRowLanes) {
            float d = dout[(size_t)n * C + c];
            sb += d;
            if (inp) sw += ((inp[(size_t)n * C + c] - mean[n]) * rstd[n]) * d;
        }
    pb[threadIdx.y][threadIdx.x] = sb;
    pw[threadIdx.y][threadIdx.x] = sw;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tb = 0.0f, tw = 0.0f;
        for (int r = 0; r < kRowLanes; r++) {
            tb += pb[r][threadIdx.x];
            tw += pw[r][threadIdx.x];
        }
        dbias[c] += tb;
        if (inp) dweight[c] += tw;
    }
}

// ---- causal attention: one thread per (b, t, h) ----

__global__ void attention_forward_kernel(float *out, float *att, const float *inp, int B, int T,
                                         int C, int NH)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * T * NH) return;
    int h = idx % NH, t = (idx / NH) % T, b = idx / (NH * T);
    int C3 = 3 * C, hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    const float *q = inp + ((size_t)b * T + t) * C3 + h * hs;
    float *a = att + (((size_t)b * NH + h) * T + t) * T;
    float maxv = -1e30f;
    for (int t2 = 0; t2 <= t; t2++) {
        const float *k = inp + ((size_t)b * T + t2) * C3 + C + h * hs;
        float v = 0.0f;
        for (int i = 0; i < hs; i++) v += q[i] * k[i];
        v *= scale;
        a[t2] = v;
        if (v > maxv) maxv = v;
    }
    float sum = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) {
        a[t2] = expf(a[t2] - maxv);
        sum += a[t2];
    }
    float inv = 1.0f / sum;
    for (int t2 = 0; t2 < T; t2++) a[t2] = t2 <= t ? a[t2] * inv : 0.0f; // causal mask
    float *o = out + ((size_t)b * T + t) * C + h * hs;
    for (int i = 0; i < hs; i++) {
        float acc = 0.0f;
        for (int t2 = 0; t2 <= t; t2++) acc += a[t2] * inp[((size_t)b * T + t2) * C3 + 2 * C + h * hs + i];
        o[i] = acc;
    }
}

/* dpre (B,NH,T,T)[t][t2] = a ⊙ (datt − Σ a·datt) · scale for t2 <= t, datt = v[t2]·dout[t]. */
__global__ void attention_dpre_kernel(float *dpre, const float *dout, const float *inp,
                                      const float *att, int B, int T, int C, int NH)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * T * NH) return;
    int h = idx % NH, t = (idx / NH) % T, b = idx / (NH * T);
    int C3 = 3 * C, hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    const float *a = att + (((size_t)b * NH + h) * T + t) * T;
    const float *d = dout + ((size_t)b * T + t) * C + h * hs;
    float *dp = dpre + (((size_t)b * NH + h) * T + t) * T;
    float dot = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) {
        const float *v = inp + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
        float s = 0.0f;
        for (int i = 0; i < hs; i++) s += v[i] * d[i];
        dp[t2] = s;
        dot += a[t2] * s;
    }
    for (int t2 = 0; t2 <= t; t2++) dp[t2] = a[t2] * (dp[t2] - dot) * scale;
}

/* One thread per (b, t, c): the q, k and v gradients of channel c at position t. */
__global__ void attention_dqkv_kernel(float *dinp, const float *dout, const float *inp,
                                      const float *att, const float *dpre, int B, int T, int C,
                                      int NH)
{
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) return;
    int c = (int)(idx % C), t = (int)((idx / C) % T), b = (int)(idx / ((size_t)C * T));
    int C3 = 3 * C, hs = C / NH, h = c / hs;
    const float *base = inp + (size_t)b * T * C3;
    const float *dp = dpre + ((size_t)b * NH + h) * T * T;  // (T,T)
    const float *a = att + ((size_t)b * NH + h) * T * T;    // (T,T)
    float dq = 0.0f, dk = 0.0f, dv = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) dq += base[(size_t)t2 * C3 + C + c] * dp[(size_t)t * T + t2];
    for (int tq = t; tq < T; tq++) {
        dk += base[(size_t)tq * C3 + c] * dp[(size_t)tq * T + t];
        dv += a[(size_t)tq * T + t] * dout[((size_t)b * T + tq) * C + c];
    }
    float *g = dinp + ((size_t)b * T + t) * C3;
    g[c] += dq;
    g[C + c] += dk;
    g[2 * C + c] += dv;
}

// ---- element-wise ----

#define GELU_SCALE 0.7978845608028654f

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n)
{
    GRID_STRIDE(i, n)
    {
        float x = inp[i], cube = 0.044715f * x * x * x;
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + cube)));
    }
}

__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t n)
{
    GRID_STRIDE(i, n)
    {
        float x = inp[i], cube = 0.044715f * x * x * x;
        float arg = GELU_SCALE * (x + cube), th = tanhf(arg), ch = coshf(arg);
        float sech2 = 1.0f / (ch * ch);
        float local = 0.5f * (1.0f + th) + x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += local * dout[i];
    }
}

__global__ void residual_forward_kernel(float *out, const float *a, const float *b, size_t n)
{
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

__global__ void residual_backward_kernel(float *da, float *db, const float *dout, size_t n)
{
    GRID_STRIDE(i, n)
    {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

// ---- softmax + log-prob of the target: one block per row ----

__global__ void softmax_logp_forward_kernel(float *probs, float *logp, const int *targets, int V)
{
    __shared__ float smax[kThreads];
    __shared__ double ssum[kThreads];
    int n = blockIdx.x;
    float *p = probs + (size_t)n * V;
    float m = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) m = fmaxf(m, p[v]);
    smax[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) smax[threadIdx.x] = fmaxf(smax[threadIdx.x], smax[threadIdx.x + s]);
        __syncthreads();
    }
    float maxv = smax[0];
    int tg = targets ? targets[n] : -1;
    float tlogit = tg >= 0 ? p[tg] - maxv : 0.0f; // read before p is overwritten below
    __syncthreads();
    double sum = 0.0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float e = expf(p[v] - maxv);
        p[v] = e;
        sum += e;
    }
    ssum[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) ssum[threadIdx.x] += ssum[threadIdx.x + s];
        __syncthreads();
    }
    double total = ssum[0];
    float inv = (float)(1.0 / total);
    if (threadIdx.x == 0 && logp) logp[n] = tg >= 0 ? tlogit - (float)log(total) : 0.0f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) p[v] *= inv;
}

__global__ void softmax_logp_backward_kernel(float *dlogits, const float *probs,
                                             const int *targets, const float *dlogp, int V,
                                             size_t n)
{
    GRID_STRIDE(i, n)
    {
        size_t row = i / V;
        int v = (int)(i % V), tg = targets[row];
        float g = dlogp[row];
        if (tg < 0 || g == 0.0f) {
            dlogits[i] = 0.0f;
            continue;
        }
        float d = -g * probs[i];
        if (v == tg) d += g;
        dlogits[i] = d;
    }
}

// ---- optimizer ----

/* partials[1 + block] = Σ x² over a fixed grid-stride subset, in double. */
__global__ void sumsq_partial_kernel(const float *x, size_t n, double *partials)
{
    __shared__ double s[kThreads];
    double acc = 0.0;
    GRID_STRIDE(i, n) acc += (double)x[i] * x[i];
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) partials[1 + blockIdx.x] = s[0];
}

__global__ void sumsq_final_kernel(double *partials, int nblocks)
{
    double t = 0.0;
    for (int b = 0; b < nblocks; b++) t += partials[1 + b];
    partials[0] = t;
}

/* gpt_adamw's expression order, each operation rounded as the CPU rounds it (no FMA). */
__global__ void adamw_clip_kernel(float *param, const float *grad, float *m, float *v, size_t n,
                                  float lr, float beta1, float beta2, float eps, float wd,
                                  float clip, float bc1, float bc2)
{
    const float omb1 = 1.0f - beta1, omb2 = 1.0f - beta2;
    GRID_STRIDE(i, n)
    {
        float gr = __fmul_rn(grad[i], clip);
        float mm = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(omb1, gr));
        float vv = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(omb2, gr), gr));
        m[i] = mm;
        v[i] = vv;
        float upd = __fdiv_rn(__fdiv_rn(mm, bc1), __fadd_rn(__fsqrt_rn(__fdiv_rn(vv, bc2)), eps));
        float p = param[i];
        if (wd != 0.0f) upd = __fadd_rn(upd, __fmul_rn(wd, p));
        param[i] = __fsub_rn(p, __fmul_rn(lr, upd));
    }
}

unsigned int rows_blocks(int N, int rows_per_block)
{
    return (unsigned int)((N + rows_per_block - 1) / rows_per_block);
}

} // namespace

extern "C" cudaError_t dc_cu_encoder_forward(float *out, const int *inp, const float *wte,
                                             const float *wpe, int B, int T, int C, cudaStream_t s)
{
    size_t n = (size_t)B * T * C;
    encoder_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(out, inp, wte, wpe, T, C, n);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_encoder_backward(float *dwte, float *dwpe, const float *dout,
                                              const int *inp, int B, int T, int C, cudaStream_t s)
{
    encoder_dwpe_kernel<<<blocks_for((size_t)T * C), kThreads, 0, s>>>(dwpe, dout, B, T, C);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned int)((C + 63) / 64), kTokenSlices);
    encoder_dwte_kernel<<<grid, 64, 0, s>>>(dwte, dout, inp, B * T, C);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_layernorm_forward(float *out, float *mean, float *rstd,
                                               const float *inp, const float *weight,
                                               const float *bias, int N, int C, cudaStream_t s)
{
    if (N < 1) return cudaSuccess;
    layernorm_forward_kernel<<<rows_blocks(N, kThreads / 32), kThreads, 0, s>>>(
        out, mean, rstd, inp, weight, bias, N, C);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_layernorm_backward(float *dinp, float *dweight, float *dbias,
                                                const float *dout, const float *inp,
                                                const float *weight, const float *mean,
                                                const float *rstd, int N, int C, cudaStream_t s)
{
    if (N < 1) return cudaSuccess;
    layernorm_dinp_kernel<<<rows_blocks(N, kThreads / 32), kThreads, 0, s>>>(
        dinp, dout, inp, weight, mean, rstd, N, C);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    dim3 block(kColTile, kRowLanes), grid((unsigned int)((C + kColTile - 1) / kColTile));
    column_grad_kernel<<<grid, block, 0, s>>>(dweight, dbias, dout, inp, mean, rstd, N, C);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_bias_grad_acc(float *dbias, const float *dout, int N, int OC,
                                           cudaStream_t s)
{
    if (N < 1 || OC < 1) return cudaSuccess;
    dim3 block(kColTile, kRowLanes), grid((unsigned int)((OC + kColTile - 1) / kColTile));
    column_grad_kernel<<<grid, block, 0, s>>>(NULL, dbias, dout, NULL, NULL, NULL, N, OC);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_attention_forward(float *out, float *att, const float *inp, int B,
                                               int T, int C, int NH, cudaStream_t s)
{
    int n = B * T * NH;
    if (n < 1 || C < 1) return cudaSuccess; // a 0-block launch is an error; nothing to do
    attention_forward_kernel<<<rows_blocks(n, 128), 128, 0, s>>>(out, att, inp, B, T, C, NH);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_attention_backward(float *dinp, const float *dout, const float *inp,
                                                const float *att, float *dpre, int B, int T,
                                                int C, int NH, cudaStream_t s)
{
    int n = B * T * NH;
    if (n < 1 || C < 1) return cudaSuccess; // a 0-block launch is an error; nothing to do
    attention_dpre_kernel<<<rows_blocks(n, 128), 128, 0, s>>>(dpre, dout, inp, att, B, T, C, NH);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    size_t m = (size_t)B * T * C;
    attention_dqkv_kernel<<<(unsigned int)((m + kThreads - 1) / kThreads), kThreads, 0, s>>>(
        dinp, dout, inp, att, dpre, B, T, C, NH);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_gelu_forward(float *out, const float *inp, int N, cudaStream_t s)
{
    gelu_forward_kernel<<<blocks_for((size_t)N), kThreads, 0, s>>>(out, inp, (size_t)N);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_gelu_backward(float *dinp, const float *inp, const float *dout,
                                           int N, cudaStream_t s)
{
    gelu_backward_kernel<<<blocks_for((size_t)N), kThreads, 0, s>>>(dinp, inp, dout, (size_t)N);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_residual_forward(float *out, const float *a, const float *b, int N,
                                              cudaStream_t s)
{
    residual_forward_kernel<<<blocks_for((size_t)N), kThreads, 0, s>>>(out, a, b, (size_t)N);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_residual_backward(float *da, float *db, const float *dout, int N,
                                               cudaStream_t s)
{
    residual_backward_kernel<<<blocks_for((size_t)N), kThreads, 0, s>>>(da, db, dout, (size_t)N);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_softmax_logp_forward(float *probs, float *logp, const int *targets,
                                                  int N, int V, cudaStream_t s)
{
    if (N < 1) return cudaSuccess;
    softmax_logp_forward_kernel<<<(unsigned int)N, kThreads, 0, s>>>(probs, logp, targets, V);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_softmax_logp_backward(float *dlogits, const float *probs,
                                                   const int *targets, const float *dlogp, int N,
                                                   int V, cudaStream_t s)
{
    size_t n = (size_t)N * V;
    softmax_logp_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(dlogits, probs, targets,
                                                                    dlogp, V, n);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_sumsq(const float *x, size_t N, double *partials, cudaStream_t s)
{
    sumsq_partial_kernel<<<DC_CU_SUMSQ_BLOCKS, kThreads, 0, s>>>(x, N, partials);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    sumsq_final_kernel<<<1, 1, 0, s>>>(partials, DC_CU_SUMSQ_BLOCKS);
    return cudaGetLastError();
}

extern "C" cudaError_t dc_cu_adamw_clip(float *param, const float *grad, float *m, float *v,
                                        size_t N, float lr, float beta1, float beta2, float eps,
                                        float weight_decay, float clip, float bc1, float bc2,
                                        cudaStream_t s)
{
    if (!N) return cudaSuccess;
    adamw_clip_kernel<<<blocks_for(N), kThreads, 0, s>>>(param, grad, m, v, N, lr, beta1, beta2,
                                                         eps, weight_decay, clip, bc1, bc2);
    return cudaGetLastError();
}
