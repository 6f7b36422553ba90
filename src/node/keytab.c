/*
 * keytab.c — the node's hash table keyed by 32-byte ids (tx hashes, public
 * keys, challenge ids): see node_internal.h. Linear probing keeps it one flat
 * allocation; a keyed SipHash keeps hostile keys from clustering.
 */
#include "../base/plow.h"

#include <sodium.h>

#include "node_internal.h"

#define KT_MIN_CAP 64
/* A slot: key (32 bytes), used flag, padding, value at offset 40 (8-aligned). */
#define KT_USED 32
#define KT_VAL 40

static inline uint8_t *slot(const keytab *t, size_t i) { return t->slots + i * t->ssize; }

static size_t home(const keytab *t, const uint8_t key[32]) {
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 32, t->seed);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)(v & (t->cap - 1));
}

void keytab_init(keytab *t, size_t vsize) {
    memset(t, 0, sizeof *t);
    t->vsize = vsize;
    t->ssize = KT_VAL + ((vsize + 7) & ~(size_t)7);
    /* sodium_init is idempotent and thread-safe; randombytes needs it. */
    if (sodium_init() < 0) PLOW_ASSERT(!"libsodium failed to initialise");
    randombytes_buf(t->seed, sizeof t->seed);
}

void keytab_release(keytab *t) {
    free(t->slots);
    t->slots = NULL;
    t->cap = t->n = 0;
}

static size_t find(const keytab *t, const uint8_t key[32], bool *found) {
    size_t i = home(t, key);
    for (;;) {
        uint8_t *s = slot(t, i);
        if (!s[KT_USED]) {
            *found = false;
            return i;
        }
        if (memcmp(s, key, 32) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & (t->cap - 1);
    }
}

void *keytab_get(const keytab *t, const uint8_t key[32]) {
    if (!t->cap) return NULL;
    bool found;
    size_t i = find(t, key, &found);
    return found ? slot(t, i) + KT_VAL : NULL;
}

static void grow(keytab *t) {
    size_t ncap = t->cap ? t->cap * 2 : KT_MIN_CAP, bytes;
    PLOW_ASSERT(plow_mul_size(ncap, t->ssize, &bytes));
    keytab old = *t;
    t->slots = plow_calloc(ncap, t->ssize);
    t->cap = ncap;
    t->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
        uint8_t *s = slot(&old, i);
        if (!s[KT_USED]) continue;
        bool found;
        size_t j = find(t, s, &found);
        memcpy(slot(t, j), s, t->ssize);
        t->n++;
    }
    free(old.slots);
}

void *keytab_put(keytab *t, const uint8_t key[32], bool *created) {
    if ((t->n + 1) * 4 > t->cap * 3) grow(t); /* load <= 3/4 */
    bool found;
    size_t i = find(t, key, &found);
    uint8_t *s = slot(t, i);
    if (!found) {
        memset(s, 0, t->ssize);
        memcpy(s, key, 32);
        s[KT_USED] = 1;
        t->n++;
    }
    if (created) *created = !found;
    return s + KT_VAL;
}

bool keytab_remove(keytab *t, const uint8_t key[32]) {
    if (!t->cap) return false;
    bool found;
    size_t i = find(t, key, &found);
    if (!found) return false;
    /* Backward shift: move later members of the run into the hole when their
     * home position allows it, so lookups never need tombstones. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & (t->cap - 1);
        uint8_t *s = slot(t, j);
        if (!s[KT_USED]) break;
        size_t h = home(t, s);
        /* s may move to hole iff its home is not cyclically in (hole, j] */
        bool in_range = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
        if (in_range) continue;
        memcpy(slot(t, hole), s, t->ssize);
        hole = j;
    }
    slot(t, hole)[KT_USED] = 0;
    t->n--;
    return true;
}

void *keytab_slot(const keytab *t, size_t i, const uint8_t **key) {
    if (i >= t->cap) return NULL;
    uint8_t *s = slot(t, i);
    if (!s[KT_USED]) return NULL;
    if (key) *key = s;
    return s + KT_VAL;
}
