/*
 * round.h — collaborative training rounds in the style of DiLoCo, as a
 * deterministic library (docs/design.md §4 "collaborative rounds"; docs/rounds.md
 * has the method, the formulas and the measured numbers).
 *
 * A round t starts from the shared outer state (W_t, v_t): weights and the
 * outer optimiser's momentum. Each participant p on the round's list
 *   1. takes shard p mod P of the training tokens (contiguous ranges),
 *   2. runs H ordinary AdamW steps on it from W_t with fresh inner moments
 *      (an ordinary training task: train_state at step 0 holding W_t),
 *   3. sends its pseudo-gradient d_p = W_t - W_p, as float32 or int8 blocks.
 * When the deadline passes, the contributions present are aggregated
 * coordinate by coordinate in participant-id order (mean, or for private data
 * that nobody can re-execute, a trimmed mean or the median), and the outer
 * optimiser (SGD with Nesterov momentum) makes W_{t+1}. A round with no
 * contribution leaves W and v unchanged. Everything after the inner runs is
 * a pure function of (W_t, v_t, contributions, rule): anyone can recompute
 * the new state and compare round_state_hash with the published commitment.
 *
 * Determinism: quantisation rounds half to even with integer arithmetic on
 * the float's bits (independent of the FPU rounding mode); aggregation sums
 * each coordinate in a fixed order (participant id for the mean, the sorted
 * order for the trimmed mean) in double, divides once, and rounds once to
 * float; threads split coordinates, never a sum. Results are the same bits
 * for any thread count, SIMD path, compiler, and any arrival order of the
 * contributions.
 *
 * Ownership: round_contrib values own their buffers (round_contrib_release);
 * a round_state is opaque (round_state_free); models passed as scratch are
 * borrowed and their parameters overwritten.
 *
 *     round_state *s;  round_state_new(&s, m->params, m->n_params, err);
 *     round_config cfg; round_config_default(&cfg, 4, 20, seq);
 *     for (int r = 0; r < R; r++) round_run(s, scratch, data, &cfg, ids, NULL, 4, &rep, err);
 *     round_state_hash(s, commitment);
 */
#ifndef PLOW_ROUND_H
#define PLOW_ROUND_H

#include "../base/plow.h"
#include "../data/dataset.h"
#include "../model/model.h"
#include "train.h"

#define ROUND_MAX_PARTICIPANTS 1024 /* contributions aggregated in one round */
#define ROUND_MAX_SHARDS 65536
#define ROUND_BLOCK_MAX 65536       /* largest int8 block */
#define ROUND_BLOCK_DEFAULT 64
#define ROUND_MAX_VALUES ((uint64_t)1 << 34) /* values in one contribution */
/* Largest |value| a contribution may carry (and scale * 127 may reach): far
 * beyond any honest pseudo-gradient, small enough that no dequantised value,
 * aggregate or momentum overflows float32. */
#define ROUND_VALUE_MAX 1e30f

/* ---- shards --------------------------------------------------------------
 * The training tokens d->train[0..n) in P contiguous, disjoint ranges that
 * cover them: shard i is [floor(i*n/P), floor((i+1)*n/P)). */
void round_shard_range(size_t n_tokens, uint32_t shards, uint32_t i, size_t *begin, size_t *end);

/* Fills *out with a view of shard i of d (no copy: out->train points into
 * d->train; out->val is d's validation split; never dataset_free it). Its hash
 * is SHA-256("plow.round.shard.v1" || d->hash || u32 P || u32 i), so batches
 * (and an inner run's task id) differ from shard to shard. Fails if i >= P,
 * P is 0 or above ROUND_MAX_SHARDS, or the shard has no more than `seq`
 * tokens (a batch window needs seq + 1). */
int round_shard(const dataset *d, uint32_t shards, uint32_t i, int seq, dataset *out, char err[PLOW_ERR_LEN]);

/* ---- a participant's inner run ------------------------------------------- */

/* The inner hyper-parameters of participant p in round `round`: *base with
 * the batch seed replaced by the first 8 bytes (little-endian) of
 * SHA-256("plow.round.seed.v1" || u64 base->seed || u64 round || u32 p), so
 * each round draws fresh windows and two participants on the same shard draw
 * different ones. out may equal base. */
void round_inner_hparams(const train_hparams *base, uint64_t round, uint32_t participant, train_hparams *out);

typedef struct round_inner_result {
    float first_loss, last_loss; /* training loss of the first and last inner step */
    uint8_t state0[PLOW_HASH_LEN]; /* the inner task's leaf 0: train_state_hash at step 0 */
    uint8_t final[PLOW_HASH_LEN];  /* its last leaf, after H steps */
} round_inner_result;

/* Runs hp->steps AdamW steps (H) on `shard` starting from the shared weights
 * w (n floats, n == m->n_params) with zero moments and the step counter at 0,
 * and writes the pseudo-gradient delta[j] = w[j] - W_H[j] (n floats; delta
 * may not alias w). m is a scratch model of the shared config: its
 * parameters are overwritten. res may be NULL. Fails on a size mismatch or
 * bad hyper-parameters. Deterministic: the same (w, shard, hp) give the same
 * delta bits and the same hashes on every machine. */
int round_inner_run(model *m, const float *w, size_t n, const dataset *shard, const train_hparams *hp,
                    float *delta, round_inner_result *res, char err[PLOW_ERR_LEN]);

/* ---- int8 block quantisation --------------------------------------------
 * Blocks of `block` consecutive values (the last may be shorter). Per block:
 *   scale = max|x| / 127            (float32 division)
 *   q[j]  = rne(x[j] / scale)       clamped to [-127, 127]; 0 if scale == 0
 *   x'[j] = (float)q[j] * scale
 * rne is round_half_even below. The error per value is at most scale/2 (up
 * to float rounding of the division), so |x - x'| <= max|x| / 254 per block. */

/* x rounded to the nearest integer, ties to even, computed from the bits of
 * x with integer operations only (no rint/lrint, no dependence on the FPU
 * rounding mode). NaN gives 0; values beyond the int32 range saturate. */
int32_t round_half_even(float x);

/* Quantises n values (all finite) into q (n) and scales (ceil(n/block));
 * block in 1..ROUND_BLOCK_MAX. Threads split blocks. */
void round_quantize(const float *x, size_t n, uint32_t block, int8_t *q, float *scales);
/* out[j] = (float)q[j] * scales[j / block]. */
void round_dequantize(const int8_t *q, const float *scales, size_t n, uint32_t block, float *out);

/* ---- contributions ----------------------------------------------------------
 * Wire format (little-endian; docs/rounds.md):
 *   "PLOWRNDC" | u32 version 1 | u64 round | u32 participant | u32 encoding |
 *   u32 block (0 for f32) | u64 n | base[32] |
 *   f32:  n float32
 *   int8: ceil(n/block) float32 scales, then n int8
 * base is round_state_hash of the state the pseudo-gradient starts from. */
typedef enum round_enc { ROUND_ENC_F32, ROUND_ENC_INT8, ROUND_ENC_COUNT } round_enc;
const char *round_enc_name(round_enc e); /* "f32", "int8" */

#define ROUND_CONTRIB_HEADER 72 /* bytes before the payload */

typedef struct round_contrib {
    uint64_t round;
    uint32_t participant;
    round_enc enc;
    uint32_t block;  /* int8: values per scale; f32: 0 */
    size_t n;
    uint8_t base[PLOW_HASH_LEN];
    float *f;        /* f32: n values */
    int8_t *q;       /* int8: n values */
    float *scales;   /* int8: ceil(n/block) scales */
} round_contrib;

/* Builds a contribution (owning new buffers) from a pseudo-gradient. All
 * values must be finite with |x| <= ROUND_VALUE_MAX; block in 1..ROUND_BLOCK_MAX for int8 (ignored for
 * f32). Release with round_contrib_release. */
int round_contrib_make(round_contrib *c, uint64_t round, uint32_t participant, const uint8_t base[PLOW_HASH_LEN],
                       const float *delta, size_t n, round_enc enc, uint32_t block, char err[PLOW_ERR_LEN]);
/* Frees the buffers and zeroes *c; accepts a zeroed or released value. */
void round_contrib_release(round_contrib *c);
/* The value at coordinate j as the aggregator sees it (dequantised). */
float round_contrib_value(const round_contrib *c, size_t j);
/* All n values, dequantised, into out. */
void round_contrib_decode(const round_contrib *c, float *out);
/* The wire size of a contribution of n values, without building it. */
size_t round_contrib_size(size_t n, round_enc enc, uint32_t block);
/* Appends the wire bytes to out. */
void round_contrib_serialize(const round_contrib *c, plow_buf *out);
/* Parses wire bytes from a peer into *c (new buffers; *c is zeroed on
 * failure). expect_n: the model's parameter count, or 0 to accept any size up
 * to ROUND_MAX_VALUES. Refuses: bad magic or version, unknown encoding, a
 * block out of range (or non-zero for f32), a size mismatch, trailing or
 * missing bytes, values beyond ROUND_VALUE_MAX (or NaN), scales that are
 * negative, -0 or above ROUND_VALUE_MAX / 127, and the int8 value -128.
 * Never asserts on its input. */
int round_contrib_parse(round_contrib *c, const uint8_t *buf, size_t len, size_t expect_n, char err[PLOW_ERR_LEN]);
/* SHA-256 of the wire bytes: what a participant commits to on the ledger. */
void round_contrib_hash(const round_contrib *c, uint8_t out[PLOW_HASH_LEN]);

/* ---- aggregation ----------------------------------------------------------
 * Per coordinate j, over the k contributions (sorted by participant id):
 *   MEAN:    (float)( (sum in id order, in double) / k )
 *   TRIMMED: sort the k values by their total order (-0 < +0), drop the
 *            `trim` smallest and `trim` largest, (float)(sum of the rest in
 *            sorted order, in double / (k - 2 trim)). If k <= 2 trim, trim is
 *            lowered to (k - 1) / 2 (the median for odd k).
 *   MEDIAN:  the middle value (odd k) or (float)(((double)a + b) / 2) of the
 *            two middle values (even k).
 * Bit-identical for any thread count and any order of cs[]. */
typedef enum round_agg { ROUND_AGG_MEAN, ROUND_AGG_TRIMMED, ROUND_AGG_MEDIAN, ROUND_AGG_COUNT } round_agg;
const char *round_agg_name(round_agg a); /* "mean", "trimmed", "median" */
int round_agg_parse(const char *s, round_agg *out, char err[PLOW_ERR_LEN]);

/* Aggregates k contributions (0 <= k <= ROUND_MAX_PARTICIPANTS) of n values
 * into out (n floats; all zeros when k == 0). Fails if a contribution has
 * another size, two share a participant id, or trim < 0. Does not check
 * rounds or bases (round_apply does). */
int round_aggregate(const round_contrib *const *cs, int k, round_agg agg, int trim, float *out, size_t n,
                    char err[PLOW_ERR_LEN]);

/* ---- the outer state and optimiser ---------------------------------------- */

/* How a round's contributions become the next state (part of the round task's
 * spec, fixed for the whole run). */
typedef struct round_rule {
    round_agg agg;
    int trim;        /* TRIMMED: values dropped at each end */
    float lr;        /* outer learning rate (DiLoCo: 0.7) */
    float momentum;  /* Nesterov momentum mu (DiLoCo: 0.9) */
} round_rule;
void round_rule_default(round_rule *r); /* mean, trim 1, lr 0.7, momentum 0.9 */
int round_rule_check(const round_rule *r, char err[PLOW_ERR_LEN]);

typedef struct round_state round_state;

/* A state at round 0 with weights w (n floats, copied) and zero momentum. */
int round_state_new(round_state **out, const float *w, size_t n, char err[PLOW_ERR_LEN]);
void round_state_free(round_state *s);
uint64_t round_state_round(const round_state *s);
const float *round_state_weights(const round_state *s, size_t *n);
const float *round_state_momentum(const round_state *s, size_t *n);

/* The commitment to a state: SHA-256("plow.round.state.v1" || u64 round ||
 * u64 n || SHA-256(W bytes) || SHA-256(v bytes)), floats little-endian. */
void round_state_hash(const round_state *s, uint8_t out[PLOW_HASH_LEN]);

/* Canonical bytes: "PLOWRNDS" | u32 version 1 | u64 round | u64 n | W | v. */
void round_state_serialize(const round_state *s, plow_buf *out);
/* Parses those bytes (from a blob) into a new state; refuses bad magic,
 * version, sizes and non-finite values. expect_n as in round_contrib_parse. */
int round_state_parse(round_state **out, const uint8_t *buf, size_t len, size_t expect_n, char err[PLOW_ERR_LEN]);

/* The outer step on an aggregate a (n floats), per coordinate, in float:
 *   v <- mu*v + a
 *   W <- W - lr*(a + mu*v)
 * (SGD with Nesterov momentum as PyTorch computes it, dampening 0), each
 * operation rounded once (no FMA). a == NULL (no contribution) leaves W and
 * v unchanged. The round counter advances either way. */
void round_outer_step(round_state *s, const float *a, float lr, float momentum);

/* One full aggregation: checks that every contribution is for this round
 * (c->round == round_state_round(s)) and this state (c->base ==
 * round_state_hash(s)), aggregates them by rule and makes the outer step.
 * k == 0 is a valid round (no-op on W and v, the counter advances). On
 * failure the state is unchanged. */
int round_apply(round_state *s, const round_contrib *const *cs, int k, const round_rule *rule,
                char err[PLOW_ERR_LEN]);

/* ---- a whole round, simulated in one process (tests, bench) --------------- */

typedef struct round_config {
    uint32_t shards;     /* P: participant p trains on shard p % P */
    train_hparams inner; /* batch, seq, steps = H, schedule; seed varied per round */
    round_rule rule;
    round_enc enc;
    uint32_t block;      /* int8 block */
} round_config;

/* P shards, H inner steps of batch 8 at sequence `seq`, lr 3e-3 constant after
 * a 2-step warm-up, clip 1, mean, f32, block 64. */
void round_config_default(round_config *c, uint32_t shards, int H, int seq);

typedef struct round_report {
    uint64_t round;     /* the round just done */
    int present;        /* contributions aggregated */
    int missing;        /* on the list but absent */
    size_t bytes_sent;  /* wire bytes of the contributions as sent */
    size_t bytes_f32;   /* the same contributions as float32 */
    double quant_rel;   /* ||d - x'|| / ||d|| over all contributions (0 for f32) */
    double quant_max;   /* max |d - x'| */
    float inner_loss;   /* mean of the participants' last inner losses */
    uint8_t hash[PLOW_HASH_LEN]; /* the new state's commitment */
} round_report;

/* Runs round round_state_round(s): every participant ids[i] with present[i]
 * (present NULL: all) does its inner run on its shard of d, its contribution
 * goes through the wire format (serialised and parsed back), and round_apply
 * makes the step; the absent ones are skipped, as at a deadline. m is a
 * scratch model of the shared config. rep may be NULL. */
int round_run(round_state *s, model *m, const dataset *d, const round_config *cfg, const uint32_t *ids,
              const bool *present, int k, round_report *rep, char err[PLOW_ERR_LEN]);

/* Mean validation loss of weights w over `batches` batches of d->val drawn
 * as train_eval draws them (hp's batch, seq and seed; d->hash). m is a
 * scratch model whose parameters are overwritten. */
int round_eval(model *m, const float *w, size_t n, const dataset *d, const train_hparams *hp, int batches,
               float *loss, char err[PLOW_ERR_LEN]);

#endif /* PLOW_ROUND_H */
