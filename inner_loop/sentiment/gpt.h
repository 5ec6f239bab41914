/* gpt.h — a small decoder-only transformer over a token vocabulary, fp32 on the CPU (llm.c
 * style), or with its training step on a backend such as the CUDA plugin (gpt_attach).
 *
 * GPT-2 layout: token + position embeddings, L blocks of (layernorm → causal multi-head
 * attention → residual, layernorm → GELU MLP (4C) → residual), final layernorm, logits
 * through the tied token embedding. Vocabulary: `vocab` ids (the sentiment task's words,
 * vocab.h); id GPT_EOT (0) starts every sequence (as BOS) and may end it (as EOS).
 *
 * The training entry points are generic over the loss: gpt_forward() returns the
 * log-probability of each target token, gpt_backward() takes d(objective)/d(log-prob) per
 * position. Language-model training passes −mask/count; preference optimisation passes the
 * per-sequence gradient of the pair loss on every response position. All layer kernels are
 * plain functions on float arrays so a CUDA backend can implement the same operations. */
#ifndef DC_GPT_H
#define DC_GPT_H

#include "common/rng.h"

#include <stddef.h>

#define GPT_EOT 0            /* = SENT_TOK_EOT of vocab.h */
/* Shards of a CPU batch (below, gpt_model.shards). A constant, not the thread count, so a
 * model trains to the same bits on 1 thread or 2; more would leave each shard's products
 * too small for this model's width. */
#define GPT_SHARDS 2
#define GPT_VOCAB_MAX 65535 /* ids are stored as 16-bit values in the cache */

typedef struct {
    int vocab;   /* V: ids 0..V-1, 2 <= V <= GPT_VOCAB_MAX */
    int ctx;     /* maximum sequence length T */
    int layers;  /* L */
    int width;   /* C */
    int heads;   /* NH; C % NH == 0 */
} gpt_config;

/* Views into one flat float array (parameters, or their gradients). */
typedef struct {
    float *wte;      // (V, C)
    float *wpe;      // (T, C)
    float *ln1w;     // (L, C)
    float *ln1b;     // (L, C)
    float *qkvw;     // (L, 3C, C)
    float *qkvb;     // (L, 3C)
    float *attprojw; // (L, C, C)
    float *attprojb; // (L, C)
    float *ln2w;     // (L, C)
    float *ln2b;     // (L, C)
    float *fcw;      // (L, 4C, C)
    float *fcb;      // (L, 4C)
    float *fcprojw;  // (L, C, 4C)
    float *fcprojb;  // (L, C)
    float *lnfw;     // (C)
    float *lnfb;     // (C)
} gpt_params;
#define GPT_NUM_PARAM_TENSORS 16

/* Activations of one forward pass at batch B, length T (the same layout holds their
 * gradients). */
typedef struct {
    float *encoded;   // (B, T, C)
    float *ln1;       // (L, B, T, C)
    float *ln1_mean;  // (L, B, T)
    float *ln1_rstd;  // (L, B, T)
    float *qkv;       // (L, B, T, 3C)
    float *atty;      // (L, B, T, C)
    float *att;       // (L, B, NH, T, T)
    float *attproj;   // (L, B, T, C)
    float *residual2; // (L, B, T, C)
    float *ln2;       // (L, B, T, C)
    float *ln2_mean;  // (L, B, T)
    float *ln2_rstd;  // (L, B, T)
    float *fch;       // (L, B, T, 4C)
    float *fch_gelu;  // (L, B, T, 4C)
    float *fcproj;    // (L, B, T, C)
    float *residual3; // (L, B, T, C)
    float *lnf;       // (B, T, C)
    float *lnf_mean;  // (B, T)
    float *lnf_rstd;  // (B, T)
    float *logits;    // (B, T, V)  holds the probabilities after the forward pass
} gpt_acts;
#define GPT_NUM_ACT_TENSORS 20

typedef struct {
    gpt_config cfg;
    size_t nparams;
    size_t param_sizes[GPT_NUM_PARAM_TENSORS];
    float *params_mem;
    gpt_params p;
    float *grads_mem; /* lazily allocated with the optimizer state */
    gpt_params g;
    float *m_mem, *v_mem; /* AdamW moments */
    int adam_t;
    /* activations of the last forward (for the backward pass) */
    int act_B, act_T;
    size_t act_sizes[GPT_NUM_ACT_TENSORS];
    float *acts_mem, *gacts_mem;
    gpt_acts a, ga;
    int last_B, last_T;
    int *last_inputs, *last_targets; /* (B, T) copies */
    /* On the CPU a batch of B >= 2 runs as GPT_SHARDS shards of consecutive rows
     * (rows s·B/S .. (s+1)·B/S − 1), each forward and backward pass on its own thread
     * (gpt_pool.h) over its slice of the activations (the layout above is unchanged), each
     * shard's parameter gradient summed into g in shard order after the backward pass.
     * shards: of the last forward (1 or GPT_SHARDS). */
    int shards;
    /* gpt_forward_scored on the CPU: per shard, the logits of its n_scored[s] positions
     * with a target, compacted at the start of the shard's rows (n_scored[s] < 0: all
     * positions, in place). scored_idx (2·B·T) holds their positions at the shard's
     * offset, then their targets at B·T + that offset; scored_buf (2·B·T·C + 2·B·T) their
     * final-layernorm rows and those rows' gradient, their log-probs and d/d log-prob,
     * each at the shard's offset of its part. */
    int n_scored[GPT_SHARDS];
    int *scored_idx;
    float *scored_buf;
    float *shard_grads; /* (GPT_SHARDS − 1) · nparams: the other shards' gradients */
    /* NULL: everything above runs on the CPU. Else (gpt_attach) forward, backward and AdamW
     * run on a backend holding its own copy of the parameters, optimizer state and
     * activations; params_mem is refreshed after every AdamW step, so sampling, cloning and
     * saving keep reading the host copy. */
    struct gpt_device *dev;
} gpt_model;

/* Checks a configuration; 0, or -1 with a message naming the bad field. */
int gpt_config_check(const gpt_config *c, char *err, size_t errcap);
/* Allocates and initialises (GPT-2 scheme: N(0, 0.02), residual projections scaled by
 * 1/sqrt(2L), layernorm weights 1). 0 or -1 (out of memory). */
int gpt_init(gpt_model *m, const gpt_config *cfg, uint64_t seed);
/* Deep copy of the parameters (no optimizer state). */
int gpt_clone(gpt_model *dst, const gpt_model *src);
void gpt_free(gpt_model *m);
/* 1 when a and b have the same configuration and bit-identical parameters (a policy not yet
 * trained away from π_ref), else 0. */
int gpt_same_params(const gpt_model *a, const gpt_model *b);

/* Forward pass over inputs (B, T) (T <= ctx). For each position writes
 * logp[b*T+t] = log p(targets[b*T+t] | inputs[b, 0..t]); targets < 0 are ignored (logp 0).
 * Keeps the activations for gpt_backward. 0 or -1 (out of memory). */
int gpt_forward(gpt_model *m, const int *inputs, const int *targets, int B, int T, float *logp);
/* As gpt_forward, but the output layer (logits, softmax) runs only at the positions whose
 * target is >= 0: the others' probabilities are not computed (the prompt and the padding
 * of preference batches, the padding of LM batches: a third of their positions). For
 * callers that use only logp and gpt_backward; gpt_backward then works on those positions
 * only too. On a backend it is gpt_forward. */
int gpt_forward_scored(gpt_model *m, const int *inputs, const int *targets, int B, int T,
                       float *logp);
/* Zeroes the parameter gradients (allocating them and the optimizer state on first use). */
int gpt_zero_grad(gpt_model *m);
/* Accumulates into the parameter gradients d(objective)/d(params) given
 * dlogp[b*T+t] = d(objective)/d(logp[b*T+t]) for the last forward pass. gpt_zero_grad must
 * have been called. 0 or -1 (out of memory). */
int gpt_backward(gpt_model *m, const float *dlogp);
/* Global gradient-norm clipping (max_norm <= 0: none) and one AdamW step (decoupled weight
 * decay on matrices only). Returns the gradient norm before clipping. */
float gpt_adamw(gpt_model *m, float lr, float beta1, float beta2, float eps, float weight_decay,
                float max_norm);

/* Samples continuations for B prompts with a KV cache. prompts[b] holds plen[b] tokens
 * (the first being GPT_EOT as BOS); each sequence gets up to max_new new tokens, stopping
 * early at GPT_EOT (which is kept). temperature > 0; top_k <= 0 keeps the full
 * distribution. Sequence b draws from its own generator rngs[b], so a sample does not depend
 * on which other sequences share its batch. out[b] receives prompt + continuation (room for
 * plen[b] + max_new tokens), out_len[b] its length. logp (may be NULL) receives per
 * sequence Σ log p(new token) under the model's own distribution (untempered, all tokens):
 * at temperature 1 and top_k <= 0, the log-probability of the sample, as gpt_forward would
 * give it to fp32 rounding. plen[b] + max_new <= ctx. 0 or -1 (out of memory or bad
 * lengths). */
int gpt_sample(const gpt_model *m, const int *const *prompts, const int *plen, int B, int max_new,
               float temperature, int top_k, dc_rng *rngs, int **out, int *out_len, double *logp);

/* ---- running on a backend (gpt_device.c) ---- */
struct dc_gpt_ops;
/* Moves training to the backend `ops` (../backend_gpt.h): uploads the parameters and gives
 * the backend its own gradients, AdamW moments (zero: a fresh optimizer, adam_t = 0) and
 * activations. gpt_forward / gpt_zero_grad / gpt_backward / gpt_adamw then run there.
 * 0, or -1 with a message (backend out of memory, ...). */
int gpt_attach(gpt_model *m, const struct dc_gpt_ops *ops, char *err, size_t errcap);
/* Back to the CPU (the host parameters are current); frees the backend's buffers. Safe on a
 * model that is not attached. */
void gpt_detach(gpt_model *m);
/* The backend that trains m: its name ("cuda:NVIDIA H100 ...") or "cpu" when not attached. */
const char *gpt_backend_name(const gpt_model *m);
/* For tests and tools: copies of the parameter gradients (nparams floats, after
 * gpt_backward) and of the last forward's probabilities (B*T*V floats, B and T of that
 * forward), from the backend when attached. 0, or -1 (nothing to copy, backend failure). */
int gpt_copy_grads(const gpt_model *m, float *dst);
int gpt_copy_probs(const gpt_model *m, float *dst);
/* 1 and the backend's first error message since attach when one failed, else 0. */
int gpt_device_error(const gpt_model *m, char *buf, size_t cap);

#endif
