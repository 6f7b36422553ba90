/*
 * genesis.c — the genesis file: a chain's name, start time, operator,
 * parameters and initial accounts (docs/formats/genesis.md).
 *
 * The chain id is SHA-256 of the file's exact bytes, so the parser does not
 * need a canonical form; it needs to be strict instead, so that a typo never
 * becomes a silently different chain: unknown or repeated fields, amounts
 * written as JSON numbers (which lose precision past 2^53), signs, leading
 * zeros and overflow are all refused, and every error names the field.
 */
#include "../base/plow.h"

#include "ledger.h"

#include <cjson/cJSON.h>

#define CHAIN_NAME_MAX 63
_Static_assert(sizeof ((ledger_genesis *)0)->chain == CHAIN_NAME_MAX + 1, "chain name size");

/* cJSON turns the escape \u0000 into a NUL that silently ends the string
 * ("12\u0000junk" would read as "12"). No genesis field has a use for it. */
static bool has_nul_escape(const uint8_t *p, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\\') continue;
        if (p[i + 1] == 'u' && i + 5 < n && memcmp(p + i + 2, "0000", 4) == 0) return true;
        i++; /* skip the escaped character (which may be a backslash) */
    }
    return false;
}

/* Checks that obj's members are among `names` (NULL-terminated), each at
 * most once, and that the first `required` of them are present. */
static int check_fields(const cJSON *obj, const char *where, const char *const *names, size_t required,
                        char err[PLOW_ERR_LEN]) {
    if (!cJSON_IsObject(obj)) return plow_error(err, "genesis: %s must be a JSON object", where);
    size_t count = 0;
    while (names[count]) count++;
    unsigned seen = 0;
    PLOW_ASSERT(count <= 8 * sizeof seen);
    for (const cJSON *c = obj->child; c; c = c->next) {
        size_t i = 0;
        while (i < count && strcmp(c->string, names[i]) != 0) i++;
        if (i == count) return plow_error(err, "genesis: %s: unknown field \"%.40s\"", where, c->string);
        if (seen & 1u << i) return plow_error(err, "genesis: %s: field \"%s\" appears twice", where, names[i]);
        seen |= 1u << i;
    }
    for (size_t i = 0; i < required; i++)
        if (!(seen & 1u << i)) return plow_error(err, "genesis: %s: missing field \"%s\"", where, names[i]);
    return 0;
}

/* A uint64 written as a decimal string: digits only, no sign, no leading
 * zero (except "0" itself), at most UINT64_MAX. */
static int get_amount(const cJSON *obj, const char *name, const char *where, uint64_t *out,
                      char err[PLOW_ERR_LEN]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(v))
        return plow_error(err, "genesis: %s%s: must be a decimal string (e.g. \"1000\"), not a JSON %s", where, name,
                          cJSON_IsNumber(v) ? "number" : "value of another type");
    const char *s = v->valuestring;
    if (!s[0]) return plow_error(err, "genesis: %s%s: empty amount", where, name);
    if (s[0] == '0' && s[1]) return plow_error(err, "genesis: %s%s: \"%.30s\" has a leading zero", where, name, s);
    uint64_t x = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return plow_error(err, "genesis: %s%s: \"%.30s\" is not a non-negative decimal integer", where, name, s);
        if (!plow_mul_u64(x, 10, &x) || !plow_add_u64(x, (uint64_t)(*p - '0'), &x))
            return plow_error(err, "genesis: %s%s: \"%.30s\" is larger than 2^64-1", where, name, s);
    }
    *out = x;
    return 0;
}

static int get_pct(const cJSON *obj, const char *name, uint32_t *out, char err[PLOW_ERR_LEN]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 100) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return plow_error(err, "genesis: params.%s: must be a JSON integer from 0 to 100", name);
    *out = (uint32_t)v->valuedouble;
    return 0;
}

static int get_address(const cJSON *obj, const char *name, const char *where, uint8_t pk[LEDGER_PK_LEN],
                       char err[PLOW_ERR_LEN]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(v)) return plow_error(err, "genesis: %s%s: must be an address string", where, name);
    char inner[PLOW_ERR_LEN];
    if (ledger_addr_parse(v->valuestring, pk, inner) != 0)
        return plow_error(err, "genesis: %s%s: %s", where, name, inner);
    return 0;
}

static int cmp_pk(const void *a, const void *b) { return memcmp(a, b, LEDGER_PK_LEN); }

static int parse_accounts(ledger_genesis *g, const cJSON *arr, char err[PLOW_ERR_LEN]) {
    if (!cJSON_IsArray(arr)) return plow_error(err, "genesis: accounts must be a JSON array");
    size_t n = 0;
    for (const cJSON *c = arr->child; c; c = c->next) n++;
    if (n == 0) return 0;
    g->accounts = plow_calloc(n, sizeof *g->accounts);
    static const char *const names[] = {"address", "balance", "stake", NULL};
    uint64_t supply = 0;
    for (const cJSON *c = arr->child; c; c = c->next) {
        ledger_genesis_account *a = &g->accounts[g->n_accounts];
        char where[40], prefix[48];
        snprintf(where, sizeof where, "accounts[%zu]", g->n_accounts);
        snprintf(prefix, sizeof prefix, "%s.", where);
        if (check_fields(c, where, names, 2, err) != 0) return -1;
        if (get_address(c, "address", prefix, a->pk, err) != 0) return -1;
        if (get_amount(c, "balance", prefix, &a->balance, err) != 0) return -1;
        if (cJSON_GetObjectItemCaseSensitive(c, "stake") && get_amount(c, "stake", prefix, &a->stake, err) != 0)
            return -1;
        if (!plow_add_u64(supply, a->balance, &supply) || !plow_add_u64(supply, a->stake, &supply))
            return plow_error(err, "genesis: the total of balances and stakes overflows 2^64-1 at accounts[%zu]",
                              g->n_accounts);
        g->n_accounts++;
    }
    g->supply = supply;
    /* Duplicates: sort a copy of the keys and compare neighbours. */
    uint8_t *keys = plow_alloc(n * LEDGER_PK_LEN);
    for (size_t i = 0; i < n; i++) memcpy(keys + i * LEDGER_PK_LEN, g->accounts[i].pk, LEDGER_PK_LEN);
    qsort(keys, n, LEDGER_PK_LEN, cmp_pk);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (memcmp(keys + (i - 1) * LEDGER_PK_LEN, keys + i * LEDGER_PK_LEN, LEDGER_PK_LEN) == 0) {
            char addr[LEDGER_ADDR_STR_LEN];
            ledger_addr_format(keys + i * LEDGER_PK_LEN, addr);
            rc = plow_error(err, "genesis: account %s is listed twice", addr);
        }
    free(keys);
    return rc;
}

/* On failure g is released (nothing to free) and err names the field. */
int ledger_genesis_parse(ledger_genesis *g, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]) {
    memset(g, 0, sizeof *g);
    if (ledger_crypto_init(err) != 0) return -1;
    if (len == 0) return plow_error(err, "genesis: empty file");
    if (memchr(buf, 0, len)) return plow_error(err, "genesis: the file contains a NUL byte");
    if (has_nul_escape(buf, len)) return plow_error(err, "genesis: the file contains the escape \\u0000");
    /* cJSON wants a NUL-terminated string to insist that nothing follows the value. */
    char *text = plow_alloc(len + 1);
    memcpy(text, buf, len);
    text[len] = 0;
    cJSON *j = cJSON_ParseWithOpts(text, NULL, true);
    free(text);
    int rc = -1;
    if (!j) {
        plow_error(err, "genesis: not valid JSON");
        goto out;
    }
    static const char *const top[] = {"chain", "time_ms", "operator", "params", "accounts", NULL};
    if (check_fields(j, "the file", top, 5, err) != 0) goto out;

    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(j, "chain");
    if (!cJSON_IsString(chain)) {
        plow_error(err, "genesis: chain must be a string");
        goto out;
    }
    size_t cl = strlen(chain->valuestring);
    if (cl < 1 || cl > CHAIN_NAME_MAX) {
        plow_error(err, "genesis: chain: a name of %zu bytes (1..%d allowed)", cl, CHAIN_NAME_MAX);
        goto out;
    }
    for (size_t i = 0; i < cl; i++) {
        unsigned char c = (unsigned char)chain->valuestring[i];
        if (c <= 0x20 || c >= 0x7f) {
            plow_error(err, "genesis: chain: the name must be printable ASCII without spaces");
            goto out;
        }
    }
    memcpy(g->chain, chain->valuestring, cl + 1);
    if (get_amount(j, "time_ms", "", &g->time_ms, err) != 0) goto out;
    if (get_address(j, "operator", "", g->operator_pk, err) != 0) goto out;

    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
    static const char *const pnames[] = {"unbond_blocks", "verdict_blocks", "min_fee", "slash_challenger_pct",
                                         "bond_accused_pct", NULL};
    if (check_fields(params, "params", pnames, 5, err) != 0) goto out;
    ledger_params *p = &g->params;
    if (get_amount(params, "unbond_blocks", "params.", &p->unbond_blocks, err) != 0 ||
        get_amount(params, "verdict_blocks", "params.", &p->verdict_blocks, err) != 0 ||
        get_amount(params, "min_fee", "params.", &p->min_fee, err) != 0 ||
        get_pct(params, "slash_challenger_pct", &p->slash_challenger_pct, err) != 0 ||
        get_pct(params, "bond_accused_pct", &p->bond_accused_pct, err) != 0)
        goto out;

    if (parse_accounts(g, cJSON_GetObjectItemCaseSensitive(j, "accounts"), err) != 0) goto out;
    plow_sha256_once(buf, len, g->chain_id);
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc != 0) ledger_genesis_release(g);
    return rc;
}

/* Frees the accounts and zeroes g; safe on a zeroed or released genesis. */
void ledger_genesis_release(ledger_genesis *g) {
    free(g->accounts);
    memset(g, 0, sizeof *g);
}
