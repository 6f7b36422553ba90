/*
 * keystore.c — Ethereum keystore v3 ("Web3 Secret Storage") files, so a
 * plow key opens in cast, geth or any wallet, and theirs in plow.
 *
 *   derived = scrypt(password, salt, N, r, p, 32) | PBKDF2-HMAC-SHA256(c)
 *   ciphertext = AES-128-CTR(key = derived[0:16], iv, secret)
 *   mac = keccak256(derived[16:32] || ciphertext)
 *
 * The MAC is checked (in constant time) before anything is decrypted, and
 * the KDF parameters read from a file are bounded before they cost memory
 * or time: a hostile file cannot ask for terabytes of scrypt.
 */
#include "../base/plow.h"

#include "evm.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <sodium.h>

const eth_kdf_params ETH_KDF_STANDARD = {ETH_KDF_SCRYPT, 262144, 8, 1};
const eth_kdf_params ETH_KDF_LIGHT = {ETH_KDF_SCRYPT, 4096, 8, 6};

/* The bounds a file's parameters must respect (geth's standard is the top). */
#define KS_MAX_SCRYPT_MEM ((uint64_t)1 << 30) /* 128 * r * N bytes */
#define KS_MAX_PBKDF2 10000000ULL

static int derive(const char *pw, const uint8_t *salt, size_t salt_len, const eth_kdf_params *kp,
                  uint8_t out[32], char err[PLOW_ERR_LEN]) {
    size_t pl = strlen(pw);
    if (kp->kdf == ETH_KDF_SCRYPT) {
        uint64_t mem;
        if (kp->n < 2 || (kp->n & (kp->n - 1)) || kp->r == 0 || kp->p == 0 || kp->r > 64 || kp->p > 64 ||
            !plow_mul_u64(128ULL * kp->r, kp->n, &mem) || mem > KS_MAX_SCRYPT_MEM)
            return plow_error(err, "keystore: scrypt parameters out of bounds (n %llu, r %u, p %u)",
                              (unsigned long long)kp->n, kp->r, kp->p);
        /* libsodium's scrypt: OpenSSL's refuses N >= 2^(16 r), which the
         * Web3 Secret Storage vector (N 2^18, r 1) needs. */
        if (crypto_pwhash_scryptsalsa208sha256_ll((const uint8_t *)pw, pl, salt, salt_len, kp->n, kp->r, kp->p,
                                                  out, 32) != 0)
            return plow_error(err, "keystore: scrypt failed");
        return 0;
    }
    if (kp->n == 0 || kp->n > KS_MAX_PBKDF2)
        return plow_error(err, "keystore: PBKDF2 count %llu out of bounds", (unsigned long long)kp->n);
    if (PKCS5_PBKDF2_HMAC(pw, (int)pl, salt, (int)salt_len, (int)kp->n, EVP_sha256(), 32, out) != 1)
        return plow_error(err, "keystore: PBKDF2 failed");
    return 0;
}

static int aes_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, size_t n, uint8_t *out,
                   char err[PLOW_ERR_LEN]) {
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0, rc = -1;
    if (!c || EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv) != 1 ||
        EVP_EncryptUpdate(c, out, &l1, in, (int)n) != 1 || EVP_EncryptFinal_ex(c, out + l1, &l2) != 1 ||
        (size_t)(l1 + l2) != n) {
        plow_error(err, "keystore: AES-128-CTR failed");
        goto out;
    }
    rc = 0;
out:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

static void mac_of(const uint8_t derived[32], const uint8_t *ct, size_t n, uint8_t mac[32]) {
    keccak256_ctx c;
    keccak256_init(&c);
    keccak256_update(&c, derived + 16, 16);
    keccak256_update(&c, ct, n);
    keccak256_final(&c, mac);
}

static void hex_field(cJSON *o, const char *name, const uint8_t *p, size_t n) {
    char h[130];
    PLOW_ASSERT(n <= 64);
    plow_hex(p, n, h);
    cJSON_AddStringToObject(o, name, h);
}

char *eth_keystore_new(const eth_key *k, const char *password, const eth_kdf_params *kp,
                       char err[PLOW_ERR_LEN]) {
    uint8_t salt[32], iv[16], derived[32], ct[32], mac[32], uuid[16];
    char *out = NULL;
    cJSON *root = NULL;
    PLOW_ASSERT(sodium_init() >= 0);
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(iv, sizeof iv);
    randombytes_buf(uuid, sizeof uuid);
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
    if (derive(password, salt, sizeof salt, kp, derived, err)) goto out;
    if (aes_ctr(derived, iv, k->secret, 32, ct, err)) goto out;
    mac_of(derived, ct, 32, mac);

    root = cJSON_CreateObject();
    char addr[41], id[37], hx[33];
    plow_hex(k->addr, ETH_ADDR_LEN, addr);
    cJSON_AddStringToObject(root, "address", addr);
    plow_hex(uuid, 16, hx);
    snprintf(id, sizeof id, "%.8s-%.4s-%.4s-%.4s-%.12s", hx, hx + 8, hx + 12, hx + 16, hx + 20);
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddNumberToObject(root, "version", 3);
    cJSON *cr = cJSON_AddObjectToObject(root, "crypto");
    cJSON_AddStringToObject(cr, "cipher", "aes-128-ctr");
    cJSON *cp = cJSON_AddObjectToObject(cr, "cipherparams");
    hex_field(cp, "iv", iv, 16);
    hex_field(cr, "ciphertext", ct, 32);
    cJSON *kd = cJSON_AddObjectToObject(cr, "kdfparams");
    cJSON_AddNumberToObject(kd, "dklen", 32);
    if (kp->kdf == ETH_KDF_SCRYPT) {
        cJSON_AddStringToObject(cr, "kdf", "scrypt");
        cJSON_AddNumberToObject(kd, "n", (double)kp->n);
        cJSON_AddNumberToObject(kd, "r", kp->r);
        cJSON_AddNumberToObject(kd, "p", kp->p);
    } else {
        cJSON_AddStringToObject(cr, "kdf", "pbkdf2");
        cJSON_AddNumberToObject(kd, "c", (double)kp->n);
        cJSON_AddStringToObject(kd, "prf", "hmac-sha256");
    }
    hex_field(kd, "salt", salt, 32);
    hex_field(cr, "mac", mac, 32);
    out = cJSON_PrintUnformatted(root);
    if (!out) plow_error(err, "keystore: out of memory");
out:
    cJSON_Delete(root);
    sodium_memzero(derived, sizeof derived);
    return out;
}

/* A hex string field of exactly n bytes (n 0: any length ≤ max, into *len). */
static int get_hex(const cJSON *o, const char *name, uint8_t *out, size_t n, size_t max, size_t *len,
                   char err[PLOW_ERR_LEN]) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(f)) return plow_error(err, "keystore: missing '%s'", name);
    const char *s = f->valuestring;
    if (strncmp(s, "0x", 2) == 0) s += 2;
    size_t l = strlen(s);
    if (l % 2 || (n && l != 2 * n) || (!n && (l == 0 || l / 2 > max)) || plow_unhex(s, out, l / 2))
        return plow_error(err, "keystore: bad hex in '%s'", name);
    if (len) *len = l / 2;
    return 0;
}

static int get_uint(const cJSON *o, const char *name, uint64_t max, uint64_t *v, char err[PLOW_ERR_LEN]) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(f) || f->valuedouble < 1 || f->valuedouble > (double)max ||
        f->valuedouble != (double)(uint64_t)f->valuedouble)
        return plow_error(err, "keystore: '%s' must be a positive integer ≤ %llu", name, (unsigned long long)max);
    *v = (uint64_t)f->valuedouble;
    return 0;
}

int eth_keystore_open(const char *json, size_t len, const char *password, eth_key *k,
                      char err[PLOW_ERR_LEN]) {
    int rc = -1;
    uint8_t derived[32], secret[32], mac[32], want[32], iv[16], salt[64], ct[64], addr[ETH_ADDR_LEN];
    size_t salt_len = 0, ct_len = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        plow_error(err, "keystore: not JSON");
        goto out;
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 3) {
        plow_error(err, "keystore: only version 3 is supported");
        goto out;
    }
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(root, "crypto");
    if (!cr) cr = cJSON_GetObjectItemCaseSensitive(root, "Crypto");
    const cJSON *cipher = cJSON_GetObjectItemCaseSensitive(cr, "cipher");
    const cJSON *kdf = cJSON_GetObjectItemCaseSensitive(cr, "kdf");
    const cJSON *kd = cJSON_GetObjectItemCaseSensitive(cr, "kdfparams");
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(cr, "cipherparams");
    if (!cJSON_IsObject(cr) || !cJSON_IsString(cipher) || strcmp(cipher->valuestring, "aes-128-ctr") != 0) {
        plow_error(err, "keystore: only the aes-128-ctr cipher is supported");
        goto out;
    }
    if (!cJSON_IsString(kdf) || !cJSON_IsObject(kd) || !cJSON_IsObject(cp)) {
        plow_error(err, "keystore: missing kdf, kdfparams or cipherparams");
        goto out;
    }
    uint64_t dklen;
    if (get_uint(kd, "dklen", 32, &dklen, err)) goto out;
    if (dklen != 32) {
        plow_error(err, "keystore: dklen must be 32");
        goto out;
    }
    eth_kdf_params kp = {0};
    if (strcmp(kdf->valuestring, "scrypt") == 0) {
        uint64_t r, p;
        kp.kdf = ETH_KDF_SCRYPT;
        if (get_uint(kd, "n", (uint64_t)1 << 30, &kp.n, err) || get_uint(kd, "r", 64, &r, err) ||
            get_uint(kd, "p", 64, &p, err))
            goto out;
        kp.r = (uint32_t)r;
        kp.p = (uint32_t)p;
    } else if (strcmp(kdf->valuestring, "pbkdf2") == 0) {
        const cJSON *prf = cJSON_GetObjectItemCaseSensitive(kd, "prf");
        kp.kdf = ETH_KDF_PBKDF2;
        if (!cJSON_IsString(prf) || strcmp(prf->valuestring, "hmac-sha256") != 0) {
            plow_error(err, "keystore: PBKDF2 needs prf hmac-sha256");
            goto out;
        }
        if (get_uint(kd, "c", KS_MAX_PBKDF2, &kp.n, err)) goto out;
    } else {
        plow_error(err, "keystore: unknown kdf '%s'", kdf->valuestring);
        goto out;
    }
    if (get_hex(kd, "salt", salt, 0, sizeof salt, &salt_len, err) || get_hex(cp, "iv", iv, 16, 16, NULL, err) ||
        get_hex(cr, "ciphertext", ct, 0, sizeof ct, &ct_len, err) || get_hex(cr, "mac", want, 32, 32, NULL, err))
        goto out;
    if (ct_len != 32) {
        plow_error(err, "keystore: the ciphertext must be 32 bytes");
        goto out;
    }
    if (derive(password, salt, salt_len, &kp, derived, err)) goto out;
    mac_of(derived, ct, ct_len, mac);
    if (sodium_memcmp(mac, want, 32) != 0) {
        plow_error(err, "keystore: wrong password or damaged file (MAC mismatch)");
        goto out;
    }
    if (aes_ctr(derived, iv, ct, 32, secret, err) || eth_key_from_secret(k, secret, err)) goto out;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "address");
    if (cJSON_IsString(a)) {
        char full[48];
        snprintf(full, sizeof full, "%s%s", strncmp(a->valuestring, "0x", 2) ? "0x" : "", a->valuestring);
        if (eth_addr_parse(full, addr, err)) goto out;
        if (memcmp(addr, k->addr, ETH_ADDR_LEN) != 0) {
            plow_error(err, "keystore: the file's address does not match its key");
            eth_key_wipe(k);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    sodium_memzero(derived, sizeof derived);
    sodium_memzero(secret, sizeof secret);
    return rc;
}

int eth_key_load(const char *path, eth_key *k, char err[PLOW_ERR_LEN]) {
    uint8_t *data = NULL;
    size_t n = 0;
    int rc = -1;
    if (plow_read_file(path, 1 << 16, &data, &n, err)) return -1;
    size_t i = 0;
    while (i < n && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) i++;
    if (i < n && data[i] == '{') {
        const char *pw = getenv("PLOW_KEY_PASSWORD");
        rc = eth_keystore_open((const char *)data, n, pw ? pw : "", k, err);
        if (rc) plow_error_prefix(err, path);
        goto out;
    }
    char hex[67];
    size_t l = n - i;
    while (l > 0 && (data[i + l - 1] == '\n' || data[i + l - 1] == '\r' || data[i + l - 1] == ' ')) l--;
    if (l != 66 || data[i] != '0' || data[i + 1] != 'x') {
        plow_error(err, "%s: not a keystore file nor 0x + 64 hex digits", path);
        goto out;
    }
    memcpy(hex, data + i + 2, 64);
    hex[64] = 0;
    uint8_t s[32];
    if (plow_unhex(hex, s, 32)) {
        plow_error(err, "%s: bad hex", path);
        goto out;
    }
    rc = eth_key_from_secret(k, s, err);
    sodium_memzero(s, sizeof s);
    sodium_memzero(hex, sizeof hex);
out:
    if (data) sodium_memzero(data, n);
    free(data);
    return rc;
}
