/* cuda_state.h — what backend_cuda.c shares with the GPT table (backend_cuda_gpt.c): the one
 * stream, the one cuBLAS handle and the one sticky error of the plugin. Internal to the
 * plugin (hidden symbols). */
#ifndef DC_CUDA_STATE_H
#define DC_CUDA_STATE_H

#include "inner_loop/backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

/* The plain table once dc_cuda_backend_open succeeded, else NULL. */
const dc_backend_ops *dc_cuda_ready_ops(void);
cudaStream_t dc_cuda_stream(void);
cublasHandle_t dc_cuda_blas(void);
/* 1 when an error is recorded (operations are then no-ops). */
int dc_cuda_failed(void);
/* 1 when e / st is success, else records "what: message" (the first error wins) and 0. */
int dc_cuda_ok(cudaError_t e, const char *what);
int dc_cuda_blas_ok(cublasStatus_t st, const char *what);

#endif
