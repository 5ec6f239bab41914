/* sentiment.h — the preference task `sentiment` (DiscoPOP's held-out IMDb experiment, on a
 * small word-level GPT trained here on the CPU).
 *
 * Pipeline (each stage cached under dc_cache_dir(), keyed by its configuration and the
 * vocabulary):
 *   vocab     the `vocab` most frequent words/punctuation of the held-in review sentences
 *             (weighted) and the fortunes corpus (vocab.h); rebuilt (cheaply) every prepare
 *   pretrain  next-word prediction on the fortunes corpus + held-in review sentences
 *   sft       fine-tuning on the held-in review sentences: the reference policy π_ref
 *   pairs     prompts (first words of held-in sentences), `samples` completions each from
 *             π_ref, best vs worst by the lexicon reward (kept when the gap ≥ `gap`),
 *             with π_ref's summed log-probs; the same on validation prompts for accuracy
 * Per candidate and β: the policy starts at π_ref and takes `steps` AdamW steps on the
 * candidate's pair loss; it is scored on held-out prompts (validation and test halves):
 * mean reward of sampled completions, per-token KL(π‖π_ref) estimated on the samples,
 * preference accuracy on held-out pairs, mean response length.
 *
 * Fitness ("reward") = mean over the β list of (validation reward − kl_penalty · KL), the
 * penalty 0.25 by default (sent_internal.h says why);
 * test_metric ("test_reward") the same on the test prompts. Per-β metrics are named
 * "beta_<β>/reward", "beta_<β>/kl", "beta_<β>/pref_accuracy", "beta_<β>/length",
 * "beta_<β>/test_reward", "beta_<β>/test_kl", with <β> printed by %g ("beta_0.05/reward");
 * also "ref_reward", "ref_test_reward", "pairs", "sft_reward_drift", ... (see README).
 * Value-drift curves: "sft/reward", "sft/length" through SFT; "beta_<β>/po/reward",
 * ".../po/kl", ".../po/length", ".../po/pref_accuracy" through each preference run, each
 * with its drift magnitude and drift time ("beta_<β>/po_reward_drift", "..._drift_time"). */
#ifndef DC_SENTIMENT_H
#define DC_SENTIMENT_H

#include "inner_loop/task.h"

extern const dc_task_ops dc_task_sentiment;
extern const dc_task_ops dc_task_sentiment_token;

/* For tests: which stages the last prepare() built rather than loaded from the cache
 * (bit 0 pretrain, 1 sft, 2 pairs). */
int dc_sentiment_stages_built(const dc_task *t);

#endif
