/* lm.h — sequences of word tokens (vocab.h) and what the pipeline does with them through a gpt_model:
 * next-token training steps, per-sequence log-probabilities over response tokens, sampling
 * completions for prompts, and the reward of a completed text.
 *
 * A sequence is tok[0] = GPT_EOT (as BOS), then the prompt (tok[1 .. plen-1]), then
 * the response (tok[plen .. len-1], possibly ending with GPT_EOT). */
#ifndef DC_SENT_LM_H
#define DC_SENT_LM_H

#include "gpt.h"
#include "lexicon.h"
#include "vocab.h"

typedef struct {
    int len;  /* tokens in tok */
    int plen; /* BOS + prompt */
    int *tok;
} sent_seq;

void sent_seq_free(sent_seq *s);
/* Response tokens (len − plen). */
static inline int sent_seq_resp_len(const sent_seq *s) { return s->len - s->plen; }

/* Fills inputs/targets (K, T) for K sequences with T = (max len) − 1 (returned): inputs
 * tok[0..len-2] padded with 0, targets tok[1..len-1] on the scored positions and −1
 * elsewhere. resp_only: only response tokens are scored (the prompt conditions). */
int sent_batch_build(const sent_seq *s, int K, int resp_only, int *inputs, int *targets);

/* Forward passes in chunks of `chunk` sequences. sum[k] = Σ over response tokens of
 * log p(token); when tok_logp is non-NULL it receives every response token's log-prob, the
 * sequences one after another. 0 or -1 (out of memory). */
int sent_seq_logps(gpt_model *m, const sent_seq *s, int K, int chunk, double *sum,
                   float *tok_logp);

/* Per-token KL(π‖π_ref) estimated on K sequences sampled from π: the sum over their response
 * tokens of log π − log π_ref, divided by the number of those tokens (the k1 estimate of
 * each token's KL, pooled: an estimate of E[KL of a response] / E[its length]). 0 when
 * there are no response tokens. 0, or -1 (out of memory). */
int sent_seq_kl(gpt_model *policy, gpt_model *ref, const sent_seq *s, int K, double *kl);
/* The same with the policy's log-probabilities given (sent_sample's logp): π_ref's forward
 * passes only. */
int sent_seq_kl_given(const double *policy_logp, gpt_model *ref, const sent_seq *s, int K,
                      double *kl);

/* One next-token training step on inputs/targets (B, T): mean NLL over targets ≥ 0,
 * backward, AdamW (β 0.9/0.95, wd 0.01, clip 1). Returns the loss, or NAN on failure. */
float sent_lm_step(gpt_model *m, const int *inputs, const int *targets, int B, int T, float lr);

/* Samples one completion per prompt: prompts[k] provides tok[0..plen-1]; out[k] gets a new
 * sequence (the caller frees it with sent_seq_free) with up to max_new response tokens.
 * Processes chunks of `chunk` prompts, side by side on the GPT's threads (gpt_pool.h); the
 * samples do not depend on how many. logp (may be NULL): per sequence the model's summed
 * log-probability of its response tokens (gpt_sample). 0 or -1 (out of memory). */
int sent_sample(const gpt_model *m, const sent_seq *prompts, int K, int chunk, int max_new,
                float temperature, int top_k, dc_rng *rng, sent_seq *out, double *logp);

/* The text a reward model sees: prompt + response words joined by spaces, without BOS/EOS.
 * Writes up to cap−1 bytes and a NUL; returns the length. */
int sent_seq_text(const sent_vocab *v, const sent_seq *s, char *buf, int cap);
double sent_seq_reward(const dc_lexicon *lx, const sent_vocab *v, const sent_seq *s);

/* Cosine learning-rate schedule with linear warm-up over the first 5 % of steps. */
float sent_lr_at(float lr, int step, int steps);

#endif
