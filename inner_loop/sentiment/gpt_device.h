/* gpt_device.h — gpt.c's internals shared with gpt_device.c (the backend path): tensor
 * layouts, and the backend versions of the training entry points. Not a public contract. */
#ifndef DC_GPT_DEVICE_H
#define DC_GPT_DEVICE_H

#include "gpt.h"

/* Layouts (gpt.c): sizes of the parameter / activation tensors and views into flat arrays. */
void gpt_point_params(gpt_params *p, float *mem, const size_t *s);
void gpt_act_sizes(const gpt_config *c, int B, int T, size_t *s);
void gpt_point_acts(gpt_acts *a, float *mem, const size_t *s);
size_t gpt_sum_sizes(const size_t *s, int n);

/* The entry points of gpt.h for an attached model (m->dev != NULL). */
int gpt_dev_forward(gpt_model *m, const int *inputs, const int *targets, int B, int T, float *logp);
int gpt_dev_zero_grad(gpt_model *m);
int gpt_dev_backward(gpt_model *m, const float *dlogp);
float gpt_dev_adamw(gpt_model *m, float lr, float beta1, float beta2, float eps, float weight_decay,
                    float max_norm);

#endif
