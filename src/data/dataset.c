/*
 * dataset.c — loading text into token streams, and the batch sampler.
 */
#include "../base/plow.h"

#include "../tensor/tensor.h"
#include "dataset.h"

#define DATASET_MAX_BYTES ((size_t)1 << 31)

int dataset_from_bytes(dataset **out, const uint8_t *data, size_t n, const tokenizer *tok,
                       double val_frac, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (!(val_frac >= 0.0 && val_frac <= 0.5))
        return plow_error(err, "validation fraction %g out of range [0, 0.5]", val_frac);
    size_t cut = n - (size_t)((double)n * val_frac);
    dataset *d = plow_calloc(1, sizeof *d);
    if (tokenizer_encode(tok, data, cut, &d->train, &d->n_train, err) ||
        tokenizer_encode(tok, data + cut, n - cut, &d->val, &d->n_val, err)) {
        dataset_free(d);
        return -1;
    }
    uint8_t fh[PLOW_HASH_LEN], th[PLOW_HASH_LEN], vf[8];
    plow_sha256_once(data, n, fh);
    tokenizer_hash(tok, th);
    uint64_t vbits;
    memcpy(&vbits, &val_frac, 8);
    plow_put_u64(vf, vbits);
    plow_sha256 *h = plow_sha256_new();
    static const char tag[] = "plow.dataset.v1";
    plow_sha256_update(h, tag, sizeof tag);
    plow_sha256_update(h, fh, sizeof fh);
    plow_sha256_update(h, th, sizeof th);
    plow_sha256_update(h, vf, sizeof vf);
    plow_sha256_final(h, d->hash);
    *out = d;
    return 0;
}

int dataset_load_text(dataset **out, const char *path, const tokenizer *tok, double val_frac,
                      char err[PLOW_ERR_LEN]) {
    uint8_t *buf;
    size_t n;
    *out = NULL;
    if (plow_read_file(path, DATASET_MAX_BYTES, &buf, &n, err)) return -1;
    int rc = dataset_from_bytes(out, buf, n, tok, val_frac, err);
    free(buf);
    return rc;
}

void dataset_free(dataset *d) {
    if (!d) return;
    free(d->train);
    free(d->val);
    free(d);
}

void dataset_batch(const int32_t *tokens, size_t n, const uint8_t hash[PLOW_HASH_LEN], uint64_t seed,
                   uint32_t purpose, uint32_t step, int B, int T, int32_t *x, int32_t *y) {
    PLOW_ASSERT(n > (size_t)T);
    uint8_t kb[PLOW_HASH_LEN + 8 + 16], kh[PLOW_HASH_LEN];
    memcpy(kb, "plow.batch.v1\0\0\0", 16);
    memcpy(kb + 16, hash, PLOW_HASH_LEN);
    plow_put_u64(kb + 16 + PLOW_HASH_LEN, seed);
    plow_sha256_once(kb, sizeof kb, kh);
    tensor_rng_key key = {plow_get_u64(kh), purpose, step};
    uint64_t range = (uint64_t)(n - (size_t)T);
    for (int b = 0; b < B; b++) {
        uint32_t r[4];
        tensor_philox(key, (uint64_t)b, r);
        uint64_t start = (((uint64_t)r[0] << 32) | r[1]) % range;
        memcpy(x + (size_t)b * T, tokens + start, sizeof(int32_t) * (size_t)T);
        memcpy(y + (size_t)b * T, tokens + start + 1, sizeof(int32_t) * (size_t)T);
    }
}
