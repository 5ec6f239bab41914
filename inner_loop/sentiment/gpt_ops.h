/* gpt_ops.h — the GPT backend table (../backend_gpt.h) for the sentiment task: the CPU
 * table (gpt_kernels.c behind function pointers) and the choice of a table by device name. */
#ifndef DC_GPT_OPS_H
#define DC_GPT_OPS_H

#include "inner_loop/backend_gpt.h"

#include <stddef.h>

/* The CPU table: the functions of gpt_kernels.c, unchanged; base = dc_backend_cpu(). */
const dc_gpt_ops *gpt_ops_cpu(void);

/* "cpu", "cuda" (the plugin's GPT table, or -1 with the reason) or "auto" (CUDA when the
 * plugin loads, a device works and the plugin has the GPT table; else the CPU table).
 * 0 and *ops, or -1 with a message. */
int gpt_ops_select(const char *device, const dc_gpt_ops **ops, char *err, size_t errcap);

/* Start-up self-check of a GPT table against the CPU (gpt_ops_select runs it on the CUDA
 * table once): a tiny GPT (width 24, not a multiple of the kernels' tiles) through ops by
 * gpt_attach and directly on the CPU, forward log-probs and every gradient compared to fp32
 * accuracy, and one AdamW op on fixed inputs. 0, or -1 with what differs. */
int gpt_ops_verify(const dc_gpt_ops *ops, char *err, size_t errcap);

#endif
