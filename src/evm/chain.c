/*
 * chain.c — calls of plow's contracts (chain.h): ABI encodings of the
 * contracts' structs, deployment, each transaction and the reads.
 *
 * The struct encodings mirror contracts/PlowTypes.sol field by field; a
 * change there must change the *_words functions here (the tests compare
 * the task id, commitment and seal with the contracts' own view functions).
 */
#include "../base/plow.h"

#include "chain.h"

#include <cjson/cJSON.h>

/* ---- words ---- */

static void w_u64(uint8_t *w, uint64_t v) {
    memset(w, 0, 32);
    eth_put_be64(w + 24, v);
}

static void w_addr(uint8_t *w, const uint8_t a[ETH_ADDR_LEN]) {
    memset(w, 0, 32);
    memcpy(w + 12, a, ETH_ADDR_LEN);
}

static void params_words(const evm_params *p, uint8_t w[EVM_PARAMS_WORDS * 32]) {
    w_addr(w, p->requester);
    w_u64(w + 32, p->kind);
    w_u64(w + 64, p->mode);
    w_u64(w + 96, p->replicas);
    w_u64(w + 128, p->reward);
    w_u64(w + 160, p->worker_stake);
    w_u64(w + 192, p->min_bond);
    w_u64(w + 224, p->steps);
    w_u64(w + 256, p->claim_blocks);
    w_u64(w + 288, p->work_blocks);
    w_u64(w + 320, p->window_blocks);
    memcpy(w + 352, p->spec, 32);
    memcpy(w + 384, p->salt, 32);
}

static void values_words(const evm_values *v, uint8_t w[EVM_VALUES_WORDS * 32]) {
    memcpy(w, v->trace_root, 32);
    memcpy(w + 32, v->final_state, 32);
    memcpy(w + 64, v->artifact, 32);
    memcpy(w + 96, v->manifest, 32);
    w_u64(w + 128, v->n);
    w_u64(w + 160, v->checkpoint_every);
}

static void seal_words(const evm_seal *s, uint8_t w[EVM_SEAL_WORDS * 32]) {
    w_addr(w, s->worker);
    memcpy(w + 32, s->commitment, 32);
    memcpy(w + 64, s->final_state, 32);
    memcpy(w + 96, s->artifact, 32);
    memcpy(w + 128, s->leaves, 32);
}

static void dispute_words(const evm_dispute *d, uint8_t w[EVM_DISPUTE_WORDS * 32]) {
    memcpy(w, d->task, 32);
    w_u64(w + 32, d->worker_stake);
    w_u64(w + 64, d->kind);
    w_u64(w + 96, d->accused_slot);
    w_u64(w + 128, d->other_slot);
    w_u64(w + 160, d->has_other);
    w_addr(w + 192, d->challenger);
    w_addr(w + 224, d->accused);
    w_addr(w + 256, d->other);
    w_u64(w + 288, d->step);
    w_u64(w + 320, d->bond);
    memcpy(w + 352, d->state_blob, 32);
    memcpy(w + 384, d->leaf_prev, 32);
    memcpy(w + 416, d->accused_leaf, 32);
    memcpy(w + 448, d->other_leaf, 32);
}

static void put_words(abi_enc *e, const uint8_t *w, size_t n) {
    for (size_t i = 0; i < n; i++) abi_word(e, w + 32 * i);
}

static void put_params(abi_enc *e, const evm_params *p) {
    uint8_t w[EVM_PARAMS_WORDS * 32];
    params_words(p, w);
    put_words(e, w, EVM_PARAMS_WORDS);
}

static void put_values(abi_enc *e, const evm_values *v) {
    uint8_t w[EVM_VALUES_WORDS * 32];
    values_words(v, w);
    put_words(e, w, EVM_VALUES_WORDS);
}

static void put_dispute(abi_enc *e, const evm_dispute *d) {
    uint8_t w[EVM_DISPUTE_WORDS * 32];
    dispute_words(d, w);
    put_words(e, w, EVM_DISPUTE_WORDS);
}

/* ---- encodings ---- */

void evm_leaves_hash(const uint8_t *leaves, size_t count, uint8_t out[32]) {
    if (count == 0) {
        memset(out, 0, 32); /* inference: no leaf blob */
        return;
    }
    plow_sha256_once(leaves, count * 32, out);
}

void evm_task_id(const evm_params *p, uint8_t id[32]) {
    uint8_t w[EVM_PARAMS_WORDS * 32];
    params_words(p, w);
    keccak256(w, sizeof w, id);
}

void evm_commitment(const evm_deployment *d, const uint8_t task[32], uint8_t slot, const uint8_t worker[ETH_ADDR_LEN],
                    const evm_values *v, const uint8_t salt[32], uint8_t out[32]) {
    static const char tag[] = "plow/commit/evm/v1";
    abi_enc e;
    plow_buf b;
    abi_begin(&e, NULL, 6 + EVM_VALUES_WORDS + 1);
    abi_bytes(&e, (const uint8_t *)tag, sizeof tag - 1);
    abi_u64(&e, d->chain_id);
    abi_addr(&e, d->plow);
    abi_word(&e, task);
    abi_u64(&e, slot);
    abi_addr(&e, worker);
    put_values(&e, v);
    abi_word(&e, salt);
    abi_end(&e, &b);
    keccak256(b.data, b.len, out);
    plow_buf_release(&b);
}

void evm_challenge_id(const evm_dispute *dis, uint64_t block, uint8_t cid[32]) {
    uint8_t w[(EVM_DISPUTE_WORDS + 1) * 32];
    dispute_words(dis, w);
    w_u64(w + EVM_DISPUTE_WORDS * 32, block);
    keccak256(w, sizeof w, cid);
}

void evm_verdict_digest(const evm_deployment *d, const uint8_t cid[32], uint8_t ruling, const uint8_t computed[32],
                        const uint8_t *evidence, size_t evidence_len, uint8_t out[32]) {
    static const char tag[] = "plow/verdict/evm/v1";
    uint8_t eh[32];
    keccak256(evidence, evidence_len, eh);
    abi_enc e;
    plow_buf b;
    abi_begin(&e, NULL, 7);
    abi_bytes(&e, (const uint8_t *)tag, sizeof tag - 1);
    abi_u64(&e, d->chain_id);
    abi_addr(&e, d->judge);
    abi_word(&e, cid);
    abi_u64(&e, ruling);
    abi_word(&e, computed);
    abi_word(&e, eh);
    abi_end(&e, &b);
    keccak256(b.data, b.len, out);
    plow_buf_release(&b);
}

/* ---- deployment ---- */

/* dir/name.bin (hex) into bytes. */
static int read_bin(const char *dir, const char *name, plow_buf *out, char err[PLOW_ERR_LEN]) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    uint8_t *data = NULL;
    size_t n = 0;
    if (plow_read_file(path, 1 << 22, &data, &n, err)) {
        plow_error(err, "%s: cannot read the compiled contract (run make contracts)", path);
        return -1;
    }
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ')) n--;
    int rc = -1;
    if (n == 0 || n % 2) {
        plow_error(err, "%s: not hex bytecode", path);
        goto out;
    }
    char *hex = plow_alloc(n + 1);
    memcpy(hex, data, n);
    hex[n] = 0;
    out->len = 0;
    plow_buf_append(out, hex, n / 2); /* room */
    rc = plow_unhex(hex, out->data, n / 2) ? plow_error(err, "%s: not hex bytecode", path) : 0;
    free(hex);
out:
    free(data);
    return rc;
}

static int create(eth_signer *s, const char *dir, const char *name, const plow_buf *args, uint8_t addr[ETH_ADDR_LEN],
                  uint64_t *gas, uint64_t *block, char err[PLOW_ERR_LEN]) {
    plow_buf code = {0};
    eth_receipt r;
    if (read_bin(dir, name, &code, err)) return -1;
    if (args && args->len) plow_buf_append(&code, args->data, args->len);
    int rc = eth_transact(s, NULL, code.data, code.len, &r, err);
    plow_buf_release(&code);
    if (rc) return plow_error_prefix(err, name), -1;
    if (!r.has_contract) return plow_error(err, "%s: the receipt names no contract", name);
    memcpy(addr, r.contract, ETH_ADDR_LEN);
    if (gas) *gas = r.gas_used;
    if (block) *block = r.block;
    return 0;
}

int evm_deploy(eth_signer *s, const char *dir, const evm_deploy_params *dp, evm_deployment *out, uint64_t gas[4],
               char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    out->params = *dp;
    out->chain_id = s->chain_id;
    uint64_t g[4] = {0};
    abi_enc e;
    plow_buf args = {0};
    int rc = -1;
    if (dp->has_token) {
        memcpy(out->token, dp->token, ETH_ADDR_LEN);
    } else {
        abi_begin(&e, NULL, 2);
        abi_bytes(&e, (const uint8_t *)"plow test dollar", 16);
        abi_bytes(&e, (const uint8_t *)"PTD", 3);
        abi_end(&e, &args);
        if (create(s, dir, "TestToken", &args, out->token, &g[0], NULL, err)) goto out;
        plow_buf_release(&args);
    }
    abi_begin(&e, NULL, 1);
    abi_addr(&e, dp->referee);
    abi_end(&e, &args);
    if (create(s, dir, "RefereeJudge", &args, out->judge, &g[1], NULL, err)) goto out;
    plow_buf_release(&args);
    abi_begin(&e, NULL, 7);
    abi_addr(&e, out->token);
    abi_addr(&e, out->judge);
    abi_u64(&e, dp->unbond_blocks);
    abi_u64(&e, dp->verdict_blocks);
    abi_u64(&e, dp->bond_floor);
    abi_u64(&e, dp->slash_challenger_pct);
    abi_u64(&e, dp->bond_accused_pct);
    abi_end(&e, &args);
    if (create(s, dir, "Plow", &args, out->plow, &g[2], &out->block, err)) goto out;
    plow_buf_release(&args);
    if (create(s, dir, "MerkleCheck", NULL, out->merkle, &g[3], NULL, err)) goto out;
    if (gas) memcpy(gas, g, sizeof g);
    rc = 0;
out:
    plow_buf_release(&args);
    return rc;
}

static void hex_field(cJSON *o, const char *name, const uint8_t *p, size_t n) {
    char *h = eth_hex_new(p, n);
    cJSON_AddStringToObject(o, name, h);
    free(h);
}

char *evm_deployment_json(const evm_deployment *d) {
    cJSON *o = cJSON_CreateObject();
    char a[43];
    cJSON_AddStringToObject(o, "format", "plow-evm-deployment/1");
    cJSON_AddNumberToObject(o, "chain_id", (double)d->chain_id);
    cJSON_AddNumberToObject(o, "block", (double)d->block);
    eth_addr_checksum(d->token, a);
    cJSON_AddStringToObject(o, "token", a);
    eth_addr_checksum(d->judge, a);
    cJSON_AddStringToObject(o, "judge", a);
    eth_addr_checksum(d->plow, a);
    cJSON_AddStringToObject(o, "plow", a);
    eth_addr_checksum(d->merkle, a);
    cJSON_AddStringToObject(o, "merkle_check", a);
    eth_addr_checksum(d->params.referee, a);
    cJSON_AddStringToObject(o, "referee", a);
    cJSON_AddNumberToObject(o, "unbond_blocks", (double)d->params.unbond_blocks);
    cJSON_AddNumberToObject(o, "verdict_blocks", (double)d->params.verdict_blocks);
    cJSON_AddNumberToObject(o, "bond_floor", (double)d->params.bond_floor);
    cJSON_AddNumberToObject(o, "slash_challenger_pct", d->params.slash_challenger_pct);
    cJSON_AddNumberToObject(o, "bond_accused_pct", d->params.bond_accused_pct);
    (void)hex_field;
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

static int get_addr(const cJSON *o, const char *name, uint8_t a[ETH_ADDR_LEN], char err[PLOW_ERR_LEN]) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(f)) return plow_error(err, "deployment: missing '%s'", name);
    if (eth_addr_parse(f->valuestring, a, err)) return plow_error_prefix(err, "deployment"), -1;
    return 0;
}

static int get_num(const cJSON *o, const char *name, uint64_t max, uint64_t *v, char err[PLOW_ERR_LEN]) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(f) || f->valuedouble < 0 || f->valuedouble > (double)max ||
        f->valuedouble != (double)(uint64_t)f->valuedouble)
        return plow_error(err, "deployment: '%s' must be an integer in 0..%llu", name, (unsigned long long)max);
    *v = (uint64_t)f->valuedouble;
    return 0;
}

int evm_deployment_parse(const char *json, size_t len, evm_deployment *d, char err[PLOW_ERR_LEN]) {
    memset(d, 0, sizeof *d);
    cJSON *o = cJSON_ParseWithLength(json, len);
    int rc = -1;
    uint64_t pct1, pct2;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsObject(o) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "plow-evm-deployment/1") != 0) {
        plow_error(err, "deployment: not a plow-evm-deployment/1 file");
        goto out;
    }
    const uint64_t big = (uint64_t)1 << 53;
    if (get_num(o, "chain_id", big, &d->chain_id, err) || get_num(o, "block", big, &d->block, err) ||
        get_addr(o, "token", d->token, err) || get_addr(o, "judge", d->judge, err) ||
        get_addr(o, "plow", d->plow, err) || get_addr(o, "merkle_check", d->merkle, err) ||
        get_addr(o, "referee", d->params.referee, err) ||
        get_num(o, "unbond_blocks", big, &d->params.unbond_blocks, err) ||
        get_num(o, "verdict_blocks", big, &d->params.verdict_blocks, err) ||
        get_num(o, "bond_floor", big, &d->params.bond_floor, err) ||
        get_num(o, "slash_challenger_pct", 100, &pct1, err) || get_num(o, "bond_accused_pct", 100, &pct2, err))
        goto out;
    d->params.slash_challenger_pct = (uint32_t)pct1;
    d->params.bond_accused_pct = (uint32_t)pct2;
    d->params.has_token = true;
    memcpy(d->params.token, d->token, ETH_ADDR_LEN);
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

/* ---- transactions ---- */

static int send(eth_signer *s, const uint8_t to[ETH_ADDR_LEN], abi_enc *e, eth_receipt *r, const char *what,
                char err[PLOW_ERR_LEN]) {
    plow_buf b;
    abi_end(e, &b);
    int rc = eth_transact(s, to, b.data, b.len, r, err);
    plow_buf_release(&b);
    if (rc) plow_error_prefix(err, what);
    return rc;
}

int evm_token_mint(eth_signer *s, const evm_deployment *d, const uint8_t to[ETH_ADDR_LEN], uint64_t amount,
                   eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "mint(address,uint256)", 2);
    abi_addr(&e, to);
    abi_u64(&e, amount);
    return send(s, d->token, &e, r, "mint", err);
}

int evm_token_approve(eth_signer *s, const evm_deployment *d, uint64_t amount, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "approve(address,uint256)", 2);
    abi_addr(&e, d->plow);
    abi_u64(&e, amount);
    return send(s, d->token, &e, r, "approve", err);
}

int evm_account_op(eth_signer *s, const evm_deployment *d, const char *op, uint64_t amount, eth_receipt *r,
                   char err[PLOW_ERR_LEN]) {
    abi_enc e;
    char sig[64];
    if (strcmp(op, "release") == 0) {
        abi_begin(&e, "release()", 0);
    } else {
        snprintf(sig, sizeof sig, "%s(uint64)", op);
        abi_begin(&e, sig, 1);
        abi_u64(&e, amount);
    }
    return send(s, d->plow, &e, r, op, err);
}

int evm_transfer(eth_signer *s, const evm_deployment *d, const uint8_t to[ETH_ADDR_LEN], uint64_t amount,
                 eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "transfer(address,uint64)", 2);
    abi_addr(&e, to);
    abi_u64(&e, amount);
    return send(s, d->plow, &e, r, "transfer", err);
}

int evm_register(eth_signer *s, const evm_deployment *d, uint8_t profile, const char *uri, eth_receipt *r,
                 char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "register(uint8,string)", 2);
    abi_u64(&e, profile);
    abi_bytes(&e, (const uint8_t *)uri, strlen(uri));
    return send(s, d->plow, &e, r, "register", err);
}

#define PARAMS_SIG "(address,uint8,uint8,uint8,uint64,uint64,uint64,uint64,uint32,uint32,uint32,bytes32,bytes32)"
#define VALUES_SIG "(bytes32,bytes32,bytes32,bytes32,uint64,uint32)"
#define SEAL_SIG "(address,bytes32,bytes32,bytes32,bytes32)"
#define DISPUTE_SIG \
    "(bytes32,uint64,uint8,uint8,uint8,bool,address,address,address,uint64,uint64,bytes32,bytes32,bytes32,bytes32)"
#define SIDE_SIG "(address," VALUES_SIG ",bytes32,bytes32,bytes32,bytes32[],bytes32,bytes32[])"

int evm_post(eth_signer *s, const evm_deployment *d, const evm_params *p, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "postTask" "(" PARAMS_SIG ")", EVM_PARAMS_WORDS);
    put_params(&e, p);
    return send(s, d->plow, &e, r, "post_task", err);
}

int evm_claim(eth_signer *s, const evm_deployment *d, const evm_params *p, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "claim(" PARAMS_SIG ")", EVM_PARAMS_WORDS);
    put_params(&e, p);
    return send(s, d->plow, &e, r, "claim", err);
}

int evm_commit(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot, const uint8_t commitment[32],
               eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "commit(" PARAMS_SIG ",uint8,bytes32)", EVM_PARAMS_WORDS + 2);
    put_params(&e, p);
    abi_u64(&e, slot);
    abi_word(&e, commitment);
    return send(s, d->plow, &e, r, "commit", err);
}

int evm_reveal(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot, const evm_values *v,
               const uint8_t salt[32], const uint8_t *leaves, size_t count, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "reveal(" PARAMS_SIG ",uint8," VALUES_SIG ",bytes32,bytes32)",
              EVM_PARAMS_WORDS + 1 + EVM_VALUES_WORDS + 2);
    uint8_t blob[32];
    evm_leaves_hash(leaves, count, blob);
    put_params(&e, p);
    abi_u64(&e, slot);
    put_values(&e, v);
    abi_word(&e, salt);
    abi_word(&e, blob);
    return send(s, d->plow, &e, r, "reveal", err);
}

static void put_path(abi_enc *e, const merkle_proof *p) {
    if (p) abi_words(e, &p->path[0][0], p->depth);
    else abi_words(e, NULL, 0);
}

/* The Side tuple (13 head words). A NULL side encodes as all zeros. */
static void put_side(abi_enc *e, const evm_side *sd) {
    static const evm_side zero;
    if (!sd) sd = &zero;
    abi_enc t;
    abi_begin(&t, NULL, 1 + EVM_VALUES_WORDS + 6);
    abi_addr(&t, sd->worker);
    put_values(&t, &sd->v);
    abi_word(&t, sd->salt);
    abi_word(&t, sd->leaves);
    abi_word(&t, sd->leaf_prev);
    put_path(&t, sd->proof_prev);
    abi_word(&t, sd->leaf);
    put_path(&t, sd->proof);
    abi_tuple(e, &t);
}

/* The dispute the contract built from a mined challenge (out and cid are
 * written only then). */
static int opened(eth_signer *s, const eth_receipt *r, evm_dispute *d, evm_dispute *out, uint8_t cid[32]) {
    memcpy(d->challenger, s->key.addr, ETH_ADDR_LEN);
    evm_challenge_id(d, r->block, cid);
    *out = *d;
    return 0;
}

/* The fields every dispute of task p starts with (the rest per kind). */
static void dispute_base(const evm_params *p, uint8_t kind, uint8_t slot, uint64_t bond, evm_dispute *dd) {
    memset(dd, 0, sizeof *dd);
    evm_task_id(p, dd->task);
    dd->worker_stake = p->worker_stake;
    dd->kind = kind;
    dd->accused_slot = slot;
    dd->bond = bond;
}

int evm_challenge(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t accused_slot,
                  const evm_side *a, const evm_side *o, uint8_t other_slot, uint64_t j, const uint8_t state_blob[32],
                  uint64_t bond, evm_dispute *out, uint8_t cid[32], eth_receipt *r, char err[PLOW_ERR_LEN]) {
    eth_receipt local;
    if (!r) r = &local;
    abi_enc e;
    abi_begin(&e, "challenge(" PARAMS_SIG ",uint8," SIDE_SIG ",bool,uint8," SIDE_SIG ",uint64,bytes32,uint64)",
              EVM_PARAMS_WORDS + 8);
    put_params(&e, p);
    abi_u64(&e, accused_slot);
    put_side(&e, a);
    abi_u64(&e, o != NULL);
    abi_u64(&e, o ? other_slot : 0);
    put_side(&e, o);
    abi_u64(&e, j);
    abi_word(&e, state_blob);
    abi_u64(&e, bond);
    evm_dispute dd;
    dispute_base(p, 0, accused_slot, bond, &dd);
    dd.other_slot = o ? other_slot : 0;
    dd.has_other = o != NULL;
    memcpy(dd.accused, a->worker, ETH_ADDR_LEN);
    if (o) memcpy(dd.other, o->worker, ETH_ADDR_LEN);
    dd.step = j;
    memcpy(dd.state_blob, state_blob, 32);
    memcpy(dd.leaf_prev, a->leaf_prev, 32);
    memcpy(dd.accused_leaf, a->leaf, 32);
    if (o) memcpy(dd.other_leaf, o->leaf, 32);
    if (send(s, d->plow, &e, r, "challenge", err)) return -1;
    return opened(s, r, &dd, out, cid);
}

int evm_da_challenge(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot, const evm_side *a,
                     const uint8_t want[32], uint64_t bond, evm_dispute *out, uint8_t cid[32], eth_receipt *r,
                     char err[PLOW_ERR_LEN]) {
    eth_receipt local;
    if (!r) r = &local;
    abi_enc e;
    abi_begin(&e, "daChallenge(" PARAMS_SIG ",uint8,address," VALUES_SIG ",bytes32,bytes32,bytes32,uint64)",
              EVM_PARAMS_WORDS + 2 + EVM_VALUES_WORDS + 4);
    put_params(&e, p);
    abi_u64(&e, slot);
    abi_addr(&e, a->worker);
    put_values(&e, &a->v);
    abi_word(&e, a->salt);
    abi_word(&e, a->leaves);
    abi_word(&e, want);
    abi_u64(&e, bond);
    evm_dispute dd;
    dispute_base(p, 1, slot, bond, &dd);
    memcpy(dd.accused, a->worker, ETH_ADDR_LEN);
    memcpy(dd.state_blob, want, 32);
    if (send(s, d->plow, &e, r, "da_challenge", err)) return -1;
    return opened(s, r, &dd, out, cid);
}

int evm_unrunnable_claim(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot,
                         const evm_seal *seal, uint64_t bond, evm_dispute *out, uint8_t cid[32], eth_receipt *r,
                         char err[PLOW_ERR_LEN]) {
    eth_receipt local;
    if (!r) r = &local;
    static const evm_seal none;
    uint8_t sw[EVM_SEAL_WORDS * 32];
    seal_words(seal ? seal : &none, sw);
    abi_enc e;
    abi_begin(&e, "unrunnableClaim(" PARAMS_SIG ",uint8," SEAL_SIG ",uint64)", EVM_PARAMS_WORDS + 2 + EVM_SEAL_WORDS);
    put_params(&e, p);
    abi_u64(&e, slot);
    for (int i = 0; i < EVM_SEAL_WORDS; i++) abi_word(&e, sw + 32 * i);
    abi_u64(&e, bond);
    evm_dispute dd;
    dispute_base(p, 2, slot, bond, &dd);
    memcpy(dd.accused, p->requester, ETH_ADDR_LEN);
    if (send(s, d->plow, &e, r, "da_challenge", err)) return -1;
    return opened(s, r, &dd, out, cid);
}

int evm_bad_reveal(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot, const evm_side *a,
                   const uint8_t *blob, size_t n, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "badReveal(" PARAMS_SIG ",uint8,address," VALUES_SIG ",bytes32,bytes)",
              EVM_PARAMS_WORDS + 2 + EVM_VALUES_WORDS + 2);
    put_params(&e, p);
    abi_u64(&e, slot);
    abi_addr(&e, a->worker);
    put_values(&e, &a->v);
    abi_word(&e, a->salt);
    abi_bytes(&e, blob, n);
    return send(s, d->plow, &e, r, "bad_reveal", err);
}

int evm_da_answer(eth_signer *s, const evm_deployment *d, const uint8_t cid[32], const evm_dispute *dis,
                  const uint8_t *blob, size_t n, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "daAnswer(uint256," DISPUTE_SIG ",bytes)", 1 + EVM_DISPUTE_WORDS + 1);
    abi_word(&e, cid);
    put_dispute(&e, dis);
    abi_bytes(&e, blob, n);
    return send(s, d->plow, &e, r, "da_answer", err);
}

int evm_lapse(eth_signer *s, const evm_deployment *d, const uint8_t cid[32], const evm_dispute *dis, eth_receipt *r,
              char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "lapse(uint256," DISPUTE_SIG ")", 1 + EVM_DISPUTE_WORDS);
    abi_word(&e, cid);
    put_dispute(&e, dis);
    return send(s, d->plow, &e, r, "lapse", err);
}

int evm_verdict(eth_signer *s, const evm_deployment *d, const eth_key *referee, const uint8_t cid[32],
                const evm_dispute *dis, uint8_t ruling, const uint8_t computed[32], const uint8_t *evidence,
                size_t evidence_len, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    uint8_t h[32], rr[32], ss[32];
    int v;
    evm_verdict_digest(d, cid, ruling, computed, evidence, evidence_len, h);
    if (eth_sign_hash(referee, h, rr, ss, &v, err)) return -1;
    abi_enc e;
    abi_begin(&e, "rule(uint256," DISPUTE_SIG ",uint8,bytes32,bytes,uint8,bytes32,bytes32)",
              1 + EVM_DISPUTE_WORDS + 6);
    abi_word(&e, cid);
    put_dispute(&e, dis);
    abi_u64(&e, ruling);
    abi_word(&e, computed);
    abi_bytes(&e, evidence, evidence_len);
    abi_u64(&e, (uint64_t)(27 + v));
    abi_word(&e, rr);
    abi_word(&e, ss);
    return send(s, d->judge, &e, r, "verdict", err);
}

static int settle_call(eth_signer *s, const evm_deployment *d, const char *sig, const char *what, const evm_params *p,
                       const evm_seal *seals, eth_receipt *r, char err[PLOW_ERR_LEN]) {
    size_t n = p->replicas;
    uint8_t *w = plow_alloc(n * EVM_SEAL_WORDS * 32 + 1);
    for (size_t i = 0; i < n; i++) seal_words(&seals[i], w + i * EVM_SEAL_WORDS * 32);
    abi_enc e;
    abi_begin(&e, sig, EVM_PARAMS_WORDS + 1);
    put_params(&e, p);
    abi_tuples(&e, w, n, EVM_SEAL_WORDS);
    free(w);
    return send(s, d->plow, &e, r, what, err);
}

int evm_finalize(eth_signer *s, const evm_deployment *d, const evm_params *p, const evm_seal *seals, eth_receipt *r,
                 char err[PLOW_ERR_LEN]) {
    return settle_call(s, d, "finalize(" PARAMS_SIG "," SEAL_SIG "[])", "finalize", p, seals, r, err);
}

int evm_expire(eth_signer *s, const evm_deployment *d, const evm_params *p, const evm_seal *seals, eth_receipt *r,
               char err[PLOW_ERR_LEN]) {
    return settle_call(s, d, "expire(" PARAMS_SIG "," SEAL_SIG "[])", "expire", p, seals, r, err);
}

/* ---- reads ---- */

static int call(eth_rpc *c, const uint8_t to[ETH_ADDR_LEN], abi_enc *e, plow_buf *out, char err[PLOW_ERR_LEN]) {
    plow_buf b;
    abi_end(e, &b);
    int rc = eth_call(c, NULL, to, b.data, b.len, out, err);
    plow_buf_release(&b);
    return rc;
}

int evm_call_word(eth_rpc *c, const uint8_t to[ETH_ADDR_LEN], const plow_buf *calldata, uint8_t w[32],
                  char err[PLOW_ERR_LEN]) {
    plow_buf out = {0};
    int rc = eth_call(c, NULL, to, calldata->data, calldata->len, &out, err);
    if (rc == 0) rc = abi_get_word(out.data, out.len, 0, w, err);
    plow_buf_release(&out);
    return rc;
}

int evm_get_account(eth_rpc *c, const evm_deployment *d, const uint8_t who[ETH_ADDR_LEN], evm_account *a,
                    char err[PLOW_ERR_LEN]) {
    abi_enc e;
    plow_buf out = {0};
    abi_begin(&e, "accounts(address)", 1);
    abi_addr(&e, who);
    int rc = call(c, d->plow, &e, &out, err);
    if (rc == 0)
        rc = abi_get_u64(out.data, out.len, 0, &a->balance, err) || abi_get_u64(out.data, out.len, 1, &a->stake, err) ||
                     abi_get_u64(out.data, out.len, 2, &a->locked, err) ||
                     abi_get_u64(out.data, out.len, 3, &a->unbonding, err)
                 ? -1
                 : 0;
    plow_buf_release(&out);
    return rc;
}

int evm_get_task_word(eth_rpc *c, const evm_deployment *d, const uint8_t id[32], uint8_t w[32], char err[PLOW_ERR_LEN]) {
    abi_enc e;
    plow_buf b;
    abi_begin(&e, "tasks(bytes32)", 1);
    abi_word(&e, id);
    abi_end(&e, &b);
    int rc = evm_call_word(c, d->plow, &b, w, err);
    plow_buf_release(&b);
    return rc;
}

int evm_get_task(eth_rpc *c, const evm_deployment *d, const uint8_t id[32], evm_task_state *t, char err[PLOW_ERR_LEN]) {
    uint8_t w[32];
    int rc = evm_get_task_word(c, d, id, w, err);
    if (rc) return -1;
    evm_task_word_decode(w, t);
    return 0;
}

void evm_task_word_decode(const uint8_t w[32], evm_task_state *t) {
    /* the word, big-endian: bit k is byte 31 - k/8 */
    memset(t, 0, sizeof *t);
    uint8_t le[32];
    for (int i = 0; i < 32; i++) le[i] = w[31 - i];
    t->status = le[0];
    t->posted_at = plow_get_u64(le + 1);
    t->window_end = plow_get_u64(le + 9);
    t->open_challenges = le[17];
    for (int i = 0; i < 8; i++) t->slot[i] = (uint8_t)((le[18 + i / 2] >> (4 * (i % 2))) & 15);
    t->unrunnable = le[22] & 1; /* bit 176 */
}

int evm_get_challenge_status(eth_rpc *c, const evm_deployment *d, const uint8_t cid[32], uint8_t *status,
                             char err[PLOW_ERR_LEN]) {
    abi_enc e;
    plow_buf out = {0};
    uint64_t v;
    abi_begin(&e, "challenges(uint256)", 1);
    abi_word(&e, cid);
    int rc = call(c, d->plow, &e, &out, err);
    if (rc == 0) rc = abi_get_u64(out.data, out.len, 1, &v, err);
    plow_buf_release(&out);
    if (rc == 0) *status = (uint8_t)v;
    return rc;
}

static int call_u64(eth_rpc *c, const uint8_t to[ETH_ADDR_LEN], abi_enc *e, uint64_t *v, char err[PLOW_ERR_LEN]) {
    plow_buf out = {0};
    int rc = call(c, to, e, &out, err);
    if (rc == 0) rc = abi_get_u64(out.data, out.len, 0, v, err);
    plow_buf_release(&out);
    return rc;
}

int evm_get_profile(eth_rpc *c, const evm_deployment *d, const uint8_t who[ETH_ADDR_LEN], uint8_t *profile,
                    uint64_t *agent_id, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    plow_buf out = {0};
    abi_begin(&e, "profiles(address)", 1);
    abi_addr(&e, who);
    uint64_t pr = 0;
    int rc = call(c, d->plow, &e, &out, err);
    if (rc == 0)
        rc = abi_get_u64(out.data, out.len, 1, &pr, err) || abi_get_u64(out.data, out.len, 2, agent_id, err) ? -1 : 0;
    if (rc == 0 && pr > 2) rc = plow_error(err, "profiles: profile %llu out of range", (unsigned long long)pr);
    if (rc == 0) *profile = (uint8_t)pr;
    plow_buf_release(&out);
    return rc;
}

int evm_get_burned(eth_rpc *c, const evm_deployment *d, uint64_t *burned, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "burned()", 0);
    return call_u64(c, d->plow, &e, burned, err);
}

int evm_token_balance(eth_rpc *c, const evm_deployment *d, const uint8_t who[ETH_ADDR_LEN], uint64_t *v,
                      char err[PLOW_ERR_LEN]) {
    abi_enc e;
    abi_begin(&e, "balanceOf(address)", 1);
    abi_addr(&e, who);
    return call_u64(c, d->token, &e, v, err);
}

int evm_merkle_root(eth_rpc *c, const evm_deployment *d, const uint8_t *leaves, size_t n, uint8_t root[32],
                    char err[PLOW_ERR_LEN]) {
    abi_enc e;
    plow_buf b;
    abi_begin(&e, "root(bytes32[])", 1);
    abi_words(&e, leaves, n);
    abi_end(&e, &b);
    int rc = evm_call_word(c, d->merkle, &b, root, err);
    plow_buf_release(&b);
    return rc;
}

int evm_merkle_verify(eth_rpc *c, const evm_deployment *d, const uint8_t root[32], uint64_t n, uint64_t index,
                      const uint8_t leaf[32], const merkle_proof *p, bool *ok, char err[PLOW_ERR_LEN]) {
    abi_enc e;
    uint64_t v;
    if (p->depth > MERKLE_MAX_DEPTH) return plow_error(err, "merkle: a proof of depth %u", p->depth);
    abi_begin(&e, "verify(bytes32,uint64,uint64,bytes32,uint64,uint64,bytes32[])", 7);
    abi_word(&e, root);
    abi_u64(&e, n);
    abi_u64(&e, index);
    abi_word(&e, leaf);
    abi_u64(&e, p->n);
    abi_u64(&e, p->index);
    abi_words(&e, &p->path[0][0], p->depth);
    if (call_u64(c, d->merkle, &e, &v, err)) return -1;
    *ok = v != 0;
    return 0;
}

