/*
 * rl.h — reinforcement learning with verifiable rewards (GRPO-style) as a
 * deterministic training mode.
 *
 *     state' = rl_step(state, problems(set, seed, step))
 *
 * An RL state is a train_state (train.h) whose step samples its own data.
 * Per step, B = hp.batch problems are drawn from the problem set (problems.h)
 * by Philox keyed by (data hash, seed, RL_PURPOSE_PROMPT, step); for each,
 * G completions are sampled from the current policy with the engine's
 * seeded sampler (infer.h: temperature, top-k), the sampling seed of
 * completion g of problem b drawn from Philox (…, RL_PURPOSE_SAMPLE, step)
 * at counter b·G + g. A completion ends with the first token whose bytes
 * hold '\n', or after max_new tokens. Rewards come from the exact checker:
 *
 *     r = 1 if right, plus format_reward if well formed (right or wrong)
 *
 * Advantages are group-relative: A = (r - mean_g r) / (std_g r + 1e-4),
 * 0 when the group's rewards are all equal. The objective, per completion
 * of n tokens and averaged over the B·G completions, is the clipped policy
 * gradient with a KL penalty to the frozen reference (the base without the
 * adapter for LoRA, a frozen copy of the starting weights for a full run):
 *
 *     L = mean_i (1/n_i) sum_t [ -min(rho_t A_i, clip(rho_t, 1±eps) A_i)
 *                                + kl · (exp(ref_t - pi_t) - (ref_t - pi_t) - 1) ]
 *
 * with rho_t = exp(pi_t - pi_old_t). One update is made per batch of
 * rollouts, sampled from the very weights being updated, so pi_old = pi and
 * rho = 1: the clip never binds and dL/dpi_t = (-A_i + kl (1 - exp(ref_t -
 * pi_t))) / (n_i B G). (Several updates per batch would break the "one step
 * = one pure function" shape and are not offered.) Then clipping, AdamW and
 * the schedule exactly as training. Sampling, rewards and the gradient are
 * inside the step, with counter-based randomness and canonical reductions:
 * a verifier holding state j-1 replays step j exactly, rollouts included.
 *
 * The state header (docs/formats/state.md) has kind bit 2 set (4 full RL,
 * 5 RL-LoRA) and, after the base hash, the RL version and the RL parameters;
 * the data hash is rl_data_hash(problem set, tokenizer).
 */
#ifndef PLOW_RL_H
#define PLOW_RL_H

#include "../data/problems.h"
#include "../data/tokenizer.h"
#include "../infer/infer.h"
#include "train.h"

enum { RL_PURPOSE_PROMPT = 81, RL_PURPOSE_SAMPLE = 82 };
#define RL_MAX_GROUP 64
#define RL_MAX_NEW 32

typedef struct rl_params {
    uint32_t group;      /* G completions per problem, 2..RL_MAX_GROUP */
    uint32_t max_new;    /* tokens per completion, 1..RL_MAX_NEW */
    float temperature;   /* > 0 (greedy rollouts would all be equal) */
    uint32_t top_k;      /* 0: off */
    float kl;            /* KL coefficient, >= 0 */
    float clip;          /* PPO clip epsilon, (0, 1) (inactive: see above) */
    float format_reward; /* >= 0 */
} rl_params;

void rl_params_default(rl_params *p);
int rl_params_check(const rl_params *p, char err[PLOW_ERR_LEN]);

/* SHA-256("plow.rl.data.v1\0" || problem set hash || tokenizer hash). */
void rl_data_hash(const problem_set *ps, const tokenizer *tok, uint8_t out[PLOW_HASH_LEN]);

/* An RL state; m (and l), ps and tok are borrowed and must outlive it. Full
 * runs copy m's weights as the frozen reference. hp.seq must hold the
 * longest prompt and max_new tokens (hp.seq >= PROBLEM_TEXT_MAX + max_new). */
int train_state_new_rl(train_state **out, model *m, lora *l, const train_hparams *hp, const rl_params *rp,
                       const problem_set *ps, const tokenizer *tok, char err[PLOW_ERR_LEN]);
bool train_state_is_rl(const train_state *s);
const rl_params *train_state_rl_params(const train_state *s);

typedef struct rl_stats {
    float reward;   /* mean reward of the step's completions */
    float accuracy; /* fraction right */
    float format;   /* fraction well formed */
    float kl;       /* mean per-token KL estimate to the reference */
    float tokens;   /* mean completion length */
    double sample_seconds; /* time spent sampling */
} rl_stats;

/* The rollouts of one step: B·G completions, each its problem index, its
 * tokens and its reward (for tests, logs and distributed rollouts). */
typedef struct rl_rollout {
    uint64_t problem;  /* index in the problem set */
    uint64_t seed;     /* the sampling seed */
    int n_prompt, n;   /* prompt and completion lengths */
    int32_t tok[PROBLEM_TEXT_MAX + RL_MAX_NEW]; /* prompt then completion */
    problem_grade grade;
    float reward;
} rl_rollout;

/* One step (samples, rewards, gradient, AdamW). st, rs may be NULL. */
int rl_step(train_state *s, train_stats *st, rl_stats *rs, char err[PLOW_ERR_LEN]);
/* The rollouts of the last rl_step or rl_sample (B·G entries). */
const rl_rollout *train_state_rl_rollouts(const train_state *s, int *count);
/* Samples the current step's rollouts without updating (for tests). */
int rl_sample(train_state *s, char err[PLOW_ERR_LEN]);
/* Loss and gradient (into train_state_grad) on the rollouts held, weights
 * untouched: for tests against finite differences. */
float rl_gradient(train_state *s, rl_stats *rs);

/* ---- rollouts made elsewhere (distributed rollouts, src/job/rollout.c) -------------
 * The rollouts of the current step as they must be: problem, sampling seed
 * and prompt tokens of each of the B·G (rl_rollout_count) entries, n = 0.
 * A rollout worker holding the state (its policy) generates a completion with
 * rl_rollout_generate: the very tokens rl_step samples. Call this first for
 * every step (and after a restore): it marks the policy's weights as new. */
int rl_rollouts_expected(train_state *s, rl_rollout *ro, char err[PLOW_ERR_LEN]);
int rl_rollout_count(const train_state *s);
/* The sampler's parameters for a rollout (what its receipt must name). */
void rl_rollout_sampling(const train_state *s, const rl_rollout *r, infer_sampling *sp);
/* The policy (model, adapter or NULL) and tokenizer the rollouts come from. */
void rl_policy(const train_state *s, const model **m, const lora **l, const tokenizer **tok);
/* Samples r's completion (r's problem, seed and prompt set) and grades it. */
int rl_rollout_generate(train_state *s, rl_rollout *r, char err[PLOW_ERR_LEN]);
/* The checker's grade and reward of r's completion. */
void rl_rollout_grade(const train_state *s, rl_rollout *r);
/* True if r's completion ends as the sampler ends one: 1..max_new tokens in
 * range, the first '\n' token (if any) the last, or exactly max_new. */
bool rl_rollout_ends_well(const train_state *s, const rl_rollout *r);
/* One step on rollouts made elsewhere (B·G, in order). Each must be the
 * step's (problem, seed, prompt) and end well, else an error; rewards are
 * regraded by the checker. That the completions are the sampler's is the
 * caller's check (rollout.c: a receipt re-derived by one prefill): then the
 * state is the very bits of rl_step's. */
int rl_step_with(train_state *s, const rl_rollout *ro, train_stats *st, rl_stats *rs, char err[PLOW_ERR_LEN]);

/* Greedy exact-match accuracy on problems 0..n-1 of a set (held-out
 * evaluation), per difficulty (acc[d-1] for d digits; NULL to skip). */
int rl_eval(const model *m, const lora *l, const tokenizer *tok, const problem_set *ps, size_t n, int max_new,
            double *accuracy, double per_digits[PROBLEM_MAX_DIGITS], char err[PLOW_ERR_LEN]);

#endif
