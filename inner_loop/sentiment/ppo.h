/* ppo.h — PPO (Schulman et al. 2017) on the sentiment GPT, the online-RL baseline of Value
 * Drifts: the policy starts at π_ref, samples responses to training prompts, is rewarded by
 * the lexicon at the end of each response with a per-token KL penalty to π_ref, and takes
 * several epochs of clipped-ratio updates per batch of rollouts; a value head on the last
 * hidden state gives GAE's baseline.
 *
 * Per response token t (the action a_t taken in state s_t = prompt + earlier tokens):
 *   r_t    = −kl_coef · (log π_old(a_t|s_t) − log π_ref(a_t|s_t)) [+ the lexicon reward at
 *            the last token]  (the k1 estimate of the KL, as TRL's PPOTrainer)
 *   δ_t    = r_t + γ V(s_{t+1}) − V(s_t),  V = 0 after the last token
 *   A_t    = Σ_k (γλ)^k δ_{t+k} (GAE, Schulman et al. 2016), whitened over the batch
 *   R_t    = A_t + V(s_t)
 *   L_pg   = mean_t max(−A_t ρ_t, −A_t clip(ρ_t, 1 − ε, 1 + ε)),
 *            ρ_t = π(a_t|s_t) / π_old(a_t|s_t)
 *   L_v    = ½ mean_t max((V − R_t)², (V_old + clip(V − V_old, −ε_v, ε_v) − R_t)²)
 * (means over the response tokens of a minibatch).
 *
 * The math is exposed here for the tests; the trainer is sent_ppo (sent_internal.h). */
#ifndef DC_SENT_PPO_H
#define DC_SENT_PPO_H

/* The options of the PPO baseline (sentiment_task.c documents each and its source). */
typedef struct {
    int steps;       /* PPO iterations (one batch of rollouts each); 0: off */
    int batch;       /* rollouts (one per prompt) per iteration */
    int minibatches; /* minibatches each epoch splits the rollouts into */
    int epochs;      /* passes over each batch of rollouts */
    double lr;       /* AdamW learning rate of the policy */
    double vf_lr;    /* Adam learning rate of the value head */
    double clip;     /* ε of the probability ratio */
    double vf_clip;  /* ε_v of the value */
    double gamma, lam;
    double kl_coef; /* per-token KL penalty to π_ref */
} sent_ppo_config;

/* GAE over one response of n tokens: rewards r[t], values v[t] = V(s_t); the response ends
 * after token n − 1 (no value beyond). Writes the advantages A_t and the returns
 * R_t = A_t + v[t]. */
void ppo_gae(const double *r, const double *v, int n, double gamma, double lam, double *adv,
             double *ret);

/* x ← (x − mean) / sqrt(var + 1e-8) over n values (population variance); n < 2 leaves x −
 * mean, i.e. 0 for n = 1. */
void ppo_whiten(double *x, int n);

/* The clipped surrogate L_pg over n tokens at log-probs lp (old: lp_old) and advantages adv.
 * dlp (NULL: not wanted) receives dL_pg/dlp[t]; *clipfrac (NULL: not wanted) the fraction
 * of tokens where the clipped term is the larger one (their gradient is 0). */
double ppo_policy_loss(int n, const double *lp, const double *lp_old, const double *adv, double eps,
                       double *dlp, double *clipfrac);

/* The clipped value loss L_v over n tokens; dv (NULL: not wanted) receives dL_v/dv[t]. */
double ppo_value_loss(int n, const double *v, const double *v_old, const double *ret, double eps,
                      double *dv);

#endif
