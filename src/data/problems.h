/*
 * problems.h — arithmetic problems whose answers can be checked exactly, for
 * reinforcement learning with verifiable rewards (docs/rl.md).
 *
 * A problem set is a description, not a file: (kinds, difficulty, split,
 * seed). Problem i of a set is a pure function of the description and i, so
 * a requester names a set by its hash and nobody — worker or requester —
 * can pick easy problems. The text format is plain:
 *
 *     prompt "Q: 37+85= A:"      answer " 122"     a completion " 122\n"
 *
 * Kinds: addition, subtraction (a >= b), multiplication (a d-digit number
 * times a 1-digit one), comparison ("Q: 37?85 A:" answered " <", " =" or
 * " >"), and small linear equations ("Q: 3x+5=20 x= A:" answered " 5").
 * The difficulty is the operands' digit count d (1..PROBLEM_MAX_DIGITS):
 * operands are uniform in [10^(d-1), 10^d) (d = 1: [0, 10)).
 *
 * Splits: every candidate problem belongs to exactly one split, by the
 * first byte of SHA-256 of its prompt (even: train, odd: held-out); problem
 * i of a set is the first candidate of the set's split drawn from Philox
 * (seed, PROBLEM_PURPOSE, i) counters 0, 1, ... So a held-out problem never
 * appears in any training set, whatever the seeds.
 *
 * The checker grades the text a model produced after the prompt: up to the
 * first '\n' (which must appear: an answer that never ends is malformed), a
 * single space then the answer's characters (an optional '-', digits without
 * a leading zero, or one of < = >). PROBLEM_WRONG_FORMAT, PROBLEM_WRONG or
 * PROBLEM_RIGHT.
 */
#ifndef PLOW_PROBLEMS_H
#define PLOW_PROBLEMS_H

#include "../base/plow.h"

typedef enum problem_kind {
    PROBLEM_ADD,
    PROBLEM_SUB,
    PROBLEM_MUL,
    PROBLEM_CMP,
    PROBLEM_LIN,
    PROBLEM_KIND_COUNT
} problem_kind;

#define PROBLEM_ALL_KINDS ((1u << PROBLEM_KIND_COUNT) - 1u)
#define PROBLEM_MAX_DIGITS 6
#define PROBLEM_TEXT_MAX 48

enum { PROBLEM_TRAIN = 0, PROBLEM_HELDOUT = 1 };
enum { PROBLEM_PURPOSE = 80 };

typedef struct problem_set {
    uint32_t kinds;      /* bit mask of problem_kind, non-zero */
    uint32_t min_digits; /* difficulty range, 1 <= min <= max <= PROBLEM_MAX_DIGITS */
    uint32_t max_digits;
    uint32_t split;      /* PROBLEM_TRAIN or PROBLEM_HELDOUT */
    uint64_t seed;
} problem_set;

typedef struct problem {
    problem_kind kind;
    uint32_t digits;
    char prompt[PROBLEM_TEXT_MAX]; /* "Q: 37+85= A:" */
    char answer[PROBLEM_TEXT_MAX]; /* " 122": the completion without its '\n' */
} problem;

typedef enum problem_grade { PROBLEM_WRONG_FORMAT = 0, PROBLEM_WRONG = 1, PROBLEM_RIGHT = 2 } problem_grade;

const char *problem_kind_name(problem_kind k); /* "add", "sub", "mul", "cmp", "lin" */
/* "add,mul" or "all" -> mask. */
int problem_parse_kinds(const char *s, uint32_t *mask, char err[PLOW_ERR_LEN]);
/* "A" or "A-B" (1 <= A <= B <= PROBLEM_MAX_DIGITS) into ps's difficulty range. */
int problem_parse_digits(const char *s, problem_set *ps, char err[PLOW_ERR_LEN]);
int problem_set_check(const problem_set *ps, char err[PLOW_ERR_LEN]);
/* SHA-256("plow.problems.v1\0" || kinds, min, max, split (u32 LE) || seed (u64 LE)). */
void problem_set_hash(const problem_set *ps, uint8_t out[PLOW_HASH_LEN]);
/* Problem i of the set (the set must pass problem_set_check). */
void problem_get(const problem_set *ps, uint64_t i, problem *out);
/* Grades the bytes a model produced after the prompt. */
problem_grade problem_check(const problem *p, const uint8_t *text, size_t n);

#endif
