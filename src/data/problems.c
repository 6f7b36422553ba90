/*
 * problems.c — seeded arithmetic problems and their exact checker.
 */
#include "problems.h"

#include "../tensor/tensor.h"

static const char *const kind_names[PROBLEM_KIND_COUNT] = {"add", "sub", "mul", "cmp", "lin"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == PROBLEM_KIND_COUNT, "one name per problem kind");

const char *problem_kind_name(problem_kind k) {
    return (unsigned)k < PROBLEM_KIND_COUNT ? kind_names[k] : "?";
}

int problem_parse_digits(const char *s, problem_set *ps, char err[PLOW_ERR_LEN]) {
    char a[16] = {0}, b[16] = {0};
    const char *dash = strchr(s, '-');
    if (strlen(s) >= sizeof a) return plow_error(err, "digits '%.20s' is not A or A-B", s);
    if (dash) {
        memcpy(a, s, (size_t)(dash - s));
        snprintf(b, sizeof b, "%s", dash + 1);
    } else {
        snprintf(a, sizeof a, "%s", s);
        snprintf(b, sizeof b, "%s", s);
    }
    uint64_t lo, hi;
    if (!plow_parse_u64(a, &lo) || !plow_parse_u64(b, &hi) || lo < 1 || hi > PROBLEM_MAX_DIGITS)
        return plow_error(err, "digits '%s': A or A-B with 1 <= A <= B <= %d", s, PROBLEM_MAX_DIGITS);
    if (lo > hi) return plow_error(err, "digits %s: the range is empty", s);
    ps->min_digits = (uint32_t)lo;
    ps->max_digits = (uint32_t)hi;
    return 0;
}

int problem_parse_kinds(const char *s, uint32_t *mask, char err[PLOW_ERR_LEN]) {
    *mask = 0;
    if (strcmp(s, "all") == 0) {
        *mask = PROBLEM_ALL_KINDS;
        return 0;
    }
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int k = 0; k < PROBLEM_KIND_COUNT; k++)
            if (strlen(kind_names[k]) == n && strncmp(p, kind_names[k], n) == 0) found = k;
        if (found < 0)
            return plow_error(err, "unknown problem kind '%.*s' in '%s' (known: add, sub, mul, cmp, lin, all)",
                              (int)n, p, s);
        *mask |= 1u << found;
        p += n;
        if (*p == ',') p++;
    }
    if (!*mask) return plow_error(err, "no problem kinds in '%s'", s);
    return 0;
}

int problem_set_check(const problem_set *ps, char err[PLOW_ERR_LEN]) {
    if (!ps->kinds || (ps->kinds & ~PROBLEM_ALL_KINDS))
        return plow_error(err, "problem kinds mask 0x%x invalid", ps->kinds);
    if (ps->min_digits < 1 || ps->min_digits > ps->max_digits || ps->max_digits > PROBLEM_MAX_DIGITS)
        return plow_error(err, "problem digits %u..%u out of range 1..%d", ps->min_digits, ps->max_digits,
                          PROBLEM_MAX_DIGITS);
    if (ps->split != PROBLEM_TRAIN && ps->split != PROBLEM_HELDOUT)
        return plow_error(err, "problem split %u is neither train (0) nor held-out (1)", ps->split);
    return 0;
}

void problem_set_hash(const problem_set *ps, uint8_t out[PLOW_HASH_LEN]) {
    uint8_t b[17 + 16 + 8];
    memcpy(b, "plow.problems.v1", 17); /* with its NUL */
    plow_put_u32(b + 17, ps->kinds);
    plow_put_u32(b + 21, ps->min_digits);
    plow_put_u32(b + 25, ps->max_digits);
    plow_put_u32(b + 29, ps->split);
    plow_put_u64(b + 33, ps->seed);
    plow_sha256_once(b, sizeof b, out);
}

static uint64_t pow10u(uint32_t d) {
    uint64_t p = 1;
    while (d--) p *= 10;
    return p;
}

/* A d-digit operand from a 32-bit draw (d = 1 includes 0). */
static uint64_t operand(uint32_t r, uint32_t d) {
    uint64_t lo = d == 1 ? 0 : pow10u(d - 1), hi = pow10u(d);
    return lo + (uint64_t)r % (hi - lo);
}

/* The candidate drawn from one Philox block. */
static void candidate(const problem_set *ps, const uint32_t r[4], problem *p) {
    int kinds[PROBLEM_KIND_COUNT], nk = 0;
    for (int k = 0; k < PROBLEM_KIND_COUNT; k++)
        if (ps->kinds & (1u << k)) kinds[nk++] = k;
    uint32_t span = ps->max_digits - ps->min_digits + 1;
    p->kind = (problem_kind)kinds[(r[0] & 0xffff) % (uint32_t)nk];
    p->digits = ps->min_digits + (r[0] >> 16) % span;
    uint64_t a = operand(r[1], p->digits), b = operand(r[2], p->digits);
    switch (p->kind) {
    case PROBLEM_ADD:
        snprintf(p->prompt, sizeof p->prompt, "Q: %llu+%llu= A:", (unsigned long long)a, (unsigned long long)b);
        snprintf(p->answer, sizeof p->answer, " %llu", (unsigned long long)(a + b));
        break;
    case PROBLEM_SUB:
        if (a < b) {
            uint64_t t = a;
            a = b;
            b = t;
        }
        snprintf(p->prompt, sizeof p->prompt, "Q: %llu-%llu= A:", (unsigned long long)a, (unsigned long long)b);
        snprintf(p->answer, sizeof p->answer, " %llu", (unsigned long long)(a - b));
        break;
    case PROBLEM_MUL:
        b = r[2] % 10;
        snprintf(p->prompt, sizeof p->prompt, "Q: %llu*%llu= A:", (unsigned long long)a, (unsigned long long)b);
        snprintf(p->answer, sizeof p->answer, " %llu", (unsigned long long)(a * b));
        break;
    case PROBLEM_CMP:
        if (r[3] % 8 == 0) b = a; /* equality is rare by chance: make it an eighth */
        snprintf(p->prompt, sizeof p->prompt, "Q: %llu?%llu A:", (unsigned long long)a, (unsigned long long)b);
        snprintf(p->answer, sizeof p->answer, " %c", a < b ? '<' : a > b ? '>' : '=');
        break;
    case PROBLEM_LIN: {
        /* c*x+e=f with x the d-digit unknown, c in 2..9, e a d-digit constant */
        uint64_t c = 2 + r[3] % 8, x = a, e = b, f = c * x + e;
        snprintf(p->prompt, sizeof p->prompt, "Q: %llux+%llu=%llu x= A:", (unsigned long long)c,
                 (unsigned long long)e, (unsigned long long)f);
        snprintf(p->answer, sizeof p->answer, " %llu", (unsigned long long)x);
        break;
    }
    default:
        PLOW_ASSERT(0);
    }
}

static uint32_t split_of(const char *prompt) {
    uint8_t h[PLOW_HASH_LEN];
    plow_sha256_once(prompt, strlen(prompt), h);
    return h[0] & 1u;
}

void problem_get(const problem_set *ps, uint64_t i, problem *out) {
    uint8_t kh[PLOW_HASH_LEN];
    problem_set_hash(ps, kh);
    tensor_rng_key key = {plow_get_u64(kh), PROBLEM_PURPOSE, (uint32_t)(i >> 32)};
    /* counters (i mod 2^32) * 2^32 + j: every problem has its own stream */
    for (uint64_t j = 0;; j++) {
        uint32_t r[4];
        tensor_philox(key, ((i & 0xffffffffu) << 32) | j, r);
        memset(out, 0, sizeof *out);
        candidate(ps, r, out);
        if (split_of(out->prompt) == ps->split) return;
        /* about half the candidates belong to the other split; a run of 2^32
         * misses does not happen (p = 2^-(2^32)) but the loop is bounded by
         * the counter's width all the same */
        PLOW_ASSERT(j < 0xffffffffu);
    }
}

problem_grade problem_check(const problem *p, const uint8_t *text, size_t n) {
    const uint8_t *nl = memchr(text, '\n', n);
    if (!nl) return PROBLEM_WRONG_FORMAT;
    size_t len = (size_t)(nl - text);
    if (len < 2 || text[0] != ' ') return PROBLEM_WRONG_FORMAT;
    const uint8_t *s = text + 1;
    size_t m = len - 1;
    bool ok;
    if (p->kind == PROBLEM_CMP) {
        ok = m == 1 && (s[0] == '<' || s[0] == '=' || s[0] == '>');
    } else {
        size_t k = 0;
        if (s[0] == '-') k = 1;
        ok = k < m && m - k <= 20;
        for (size_t t = k; ok && t < m; t++) ok = s[t] >= '0' && s[t] <= '9';
        if (ok && m - k > 1 && s[k] == '0') ok = false; /* a leading zero */
        if (ok && k == 1 && m == 2 && s[1] == '0') ok = false; /* "-0" */
    }
    if (!ok) return PROBLEM_WRONG_FORMAT;
    return strlen(p->answer) == len && memcmp(p->answer, text, len) == 0 ? PROBLEM_RIGHT : PROBLEM_WRONG;
}
