/*
 * test_wasm.c — the pieces the WebAssembly build brings instead of Debian's
 * libraries (src/wasm/), run in both builds: natively against libcrypto and
 * Debian's cJSON, in wasm (build/wasm/plow_test.wasm) against src/wasm's
 * SHA-256 and cJSON subset, with the same expected bytes, so a difference
 * between the two implementations fails one of the two runs.
 */
#include "../src/base/plow.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "../src/tensor/tensor.h"
#if !defined(__wasm__)
#include <sodium.h>
#endif
#include "../src/wasm/ed25519.h"
#include "../src/wasm/sha256.h"
#include "test.h"

static void hex32(const uint8_t h[32], char out[65]) {
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA256ShortMsg") */
static void test_sha256_vectors(void) {
    static const struct {
        const char *msg;
        long repeat;
        const char *hash;
    } v[] = {
        {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        wasm_sha256 s;
        wasm_sha256_init(&s);
        for (long r = 0; r < v[i].repeat; r++) wasm_sha256_update(&s, v[i].msg, strlen(v[i].msg));
        uint8_t h[32];
        char hx[65];
        wasm_sha256_final(&s, h);
        hex32(h, hx);
        CHECKF(strcmp(hx, v[i].hash) == 0, "vector %zu: %s", i, hx);
        if (v[i].repeat == 1) { /* and the engine's plow_sha256 (libcrypto natively, this in wasm) */
            plow_sha256_once(v[i].msg, strlen(v[i].msg), h);
            hex32(h, hx);
            CHECKF(strcmp(hx, v[i].hash) == 0, "plow_sha256 vector %zu: %s", i, hx);
        }
    }
    /* every length around the block and padding boundaries, fed in uneven
     * pieces, against plow_sha256_once over the whole */
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 167 + 13);
    int bad = 0;
    for (size_t n = 0; n <= sizeof buf; n++) {
        uint8_t a[32], b[32];
        plow_sha256_once(buf, n, a);
        wasm_sha256 s;
        wasm_sha256_init(&s);
        for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 % 71 + 1)
            wasm_sha256_update(&s, buf + off, step < n - off ? step : n - off);
        wasm_sha256_final(&s, b);
        bad += memcmp(a, b, 32) != 0;
    }
    CHECKF(bad == 0, "%d lengths differ from plow_sha256_once", bad);
}

static bool printed_is(cJSON *j, bool formatted, const char *want) {
    char *s = formatted ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    bool ok = s && strcmp(s, want) == 0;
    if (!ok) test_fail(__FILE__, __LINE__, "printed '%s', want '%s'", s ? s : "(null)", want);
    free(s);
    return ok;
}

/* The bytes cJSON 1.7 prints, and what it parses and refuses. */
static void test_json_subset(void) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "a", 1);
    cJSON *arr = cJSON_AddArrayToObject(j, "b");
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(-2.5));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(0.1));
    cJSON *in = cJSON_CreateObject();
    cJSON_AddBoolToObject(in, "c", 1);
    cJSON_AddItemToArray(arr, in);
    cJSON_AddObjectToObject(j, "d");
    cJSON_AddStringToObject(j, "e", "q\"b\\s\n\t\x01/\xc3\xa9");
    cJSON_AddNumberToObject(j, "f", (double)0.8f);
    cJSON_AddNumberToObject(j, "g", 1.0 / 3.0);
    cJSON_AddNumberToObject(j, "h", 1e300);
    cJSON_AddNumberToObject(j, "i", NAN);
    cJSON_AddNumberToObject(j, "k", -0.0);
    cJSON_AddNumberToObject(j, "l", 4294967296.0);
    cJSON_AddNumberToObject(j, "m", 1e15);
    printed_is(j, false,
               "{\"a\":1,\"b\":[-2.5,0.1,{\"c\":true}],\"d\":{},\"e\":\"q\\\"b\\\\s\\n\\t\\u0001/\xc3\xa9\","
               "\"f\":0.800000011920929,\"g\":0.33333333333333331,\"h\":1e+300,\"i\":null,\"k\":-0,"
               "\"l\":4294967296,\"m\":1e+15}");
    printed_is(j, true,
               "{\n\t\"a\":\t1,\n\t\"b\":\t[-2.5, 0.1, {\n\t\t\t\"c\":\ttrue\n\t\t}],\n\t\"d\":\t{\n\t},\n"
               "\t\"e\":\t\"q\\\"b\\\\s\\n\\t\\u0001/\xc3\xa9\",\n\t\"f\":\t0.800000011920929,\n"
               "\t\"g\":\t0.33333333333333331,\n\t\"h\":\t1e+300,\n\t\"i\":\tnull,\n\t\"k\":\t-0,\n"
               "\t\"l\":\t4294967296,\n\t\"m\":\t1e+15\n}");
    cJSON_Delete(j);

    const char *txt = "\xef\xbb\xbf {\"s\": \"\\u00e9\\ud83d\\ude00\\/\", \"n\": [1e5, -0, 01, 2.5E-1], "
                      "\"t\": true, \"f\": false, \"z\": null, \"s\": 2}  trailing";
    j = cJSON_ParseWithLength(txt, strlen(txt));
    CHECK(cJSON_IsObject(j));
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "s"), *n = cJSON_GetObjectItemCaseSensitive(j, "n");
    CHECK(cJSON_IsString(s) && strcmp(s->valuestring, "\xc3\xa9\xf0\x9f\x98\x80/") == 0); /* the first "s" */
    CHECK(cJSON_IsArray(n) && cJSON_GetArraySize(n) == 4);
    double want[] = {1e5, 0, 1, 0.25};
    int k = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, n) {
        CHECK(cJSON_IsNumber(x) && x->valuedouble == want[k]);
        k++;
    }
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "t")));
    CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "f")) &&
          !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "f")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "z")));
    CHECK(!cJSON_GetObjectItemCaseSensitive(j, "S"));
    cJSON_Delete(j);
    const char *end = NULL;
    CHECK(!cJSON_ParseWithLengthOpts(txt, strlen(txt), &end, 1)); /* trailing bytes refused when asked */
    /* a length that stops inside the document is the end of it */
    CHECK(!cJSON_ParseWithLength("[1, 2]", 5));
    j = cJSON_ParseWithLength("[1, 2]", 6);
    CHECK(cJSON_GetArraySize(j) == 2);
    cJSON_Delete(j);

    static const char *bad[] = {"",       "{",          "[1,]",          "{\"a\" 1}",       "{\"a\":}", "\"\\x\"",
                                "tru",    "nul",        "\"\\ud800\"",    "\"\\udc00x\"",    "\"\\u12\"", "-",
                                "[1 2]",  "{1:2}",      "\"unterminated", "{\"a\":1,}",      "+1",       ".5",
                                "[\"a\"", "{\"a\":1 \"b\":2}", "\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *b = cJSON_ParseWithLength(bad[i], strlen(bad[i]));
        CHECKF(!b, "accepted malformed input %zu '%s'", i, bad[i]);
        cJSON_Delete(b);
    }
    /* nesting: 1000 levels parse, 1001 do not */
    char deep[2 * 1001 + 1];
    for (int d = 1000; d <= 1001; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        cJSON *b = cJSON_ParseWithLength(deep, 2 * (size_t)d);
        CHECKF((b != NULL) == (d == 1000), "nesting %d", d);
        cJSON_Delete(b);
    }
}


static int unhex_n(const char *h, uint8_t *out, size_t n) { return plow_unhex(h, out, n); }

/* Ed25519 verification (src/wasm/ed25519.c): the RFC 8032 examples in both
 * builds; natively, its verdict against libsodium's on signatures libsodium
 * made, on every kind of tampering and on the inputs libsodium refuses before
 * any arithmetic (S >= L, small-order or non-canonical keys and R). */
static void test_ed25519_verify(void) {
    uint8_t h[64];
    char hx[129];
    wasm_sha512("abc", 3, h);
    for (int i = 0; i < 64; i++) snprintf(hx + 2 * i, 3, "%02x", h[i]);
    CHECKF(strcmp(hx, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f") == 0, "sha512(abc) %s", hx);
    /* RFC 8032 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72) */
    static const char *vec[][3] = {
        {"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        {"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    };
    for (int i = 0; i < 2; i++) {
        uint8_t pk[32], sig[64], m[1];
        size_t n = strlen(vec[i][1]) / 2;
        CHECK(unhex_n(vec[i][0], pk, 32) == 0 && unhex_n(vec[i][2], sig, 64) == 0 && (n == 0 || unhex_n(vec[i][1], m, n) == 0));
        CHECKF(wasm_ed25519_verify(sig, m, n, pk), "RFC 8032 test %d refused", i + 1);
        sig[10] ^= 1;
        CHECKF(!wasm_ed25519_verify(sig, m, n, pk), "RFC 8032 test %d with a changed R accepted", i + 1);
    }
#if !defined(__wasm__)
    PLOW_ASSERT(sodium_init() >= 0);
    int disagree = 0, accepted = 0;
    for (int i = 0; i < 120; i++) {
        uint8_t seed[32], pk[32], sk[64], sig[64], msg[200];
        for (int j = 0; j < 32; j++) seed[j] = (uint8_t)(i * 31 + j * 7);
        crypto_sign_seed_keypair(pk, sk, seed);
        size_t n = (size_t)(i * 37 % 200);
        for (size_t j = 0; j < n; j++) msg[j] = (uint8_t)(i + j * 3);
        crypto_sign_detached(sig, NULL, msg, n, sk);
        switch (i % 8) { /* 0: honest; the others tampered */
        case 1: sig[i % 32] ^= (uint8_t)(1 << (i % 8)); break;                    /* R */
        case 2: sig[32 + i % 31] ^= (uint8_t)(1 << (i % 8)); break;               /* S (still < L) */
        case 3: if (n) msg[i % n] ^= 0x40; else msg[0] = 1, n = 1; break;         /* the message */
        case 4: pk[i % 31] ^= (uint8_t)(1 << (i % 7)); break;                     /* another key (or none) */
        case 5: { /* S + L: the same scalar, not canonical */
            static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                          0xa2, 0xde, 0xf9, 0xde, 0x14, [31] = 0x10};
            int c = 0;
            for (int j = 0; j < 32; j++) {
                int v = sig[32 + j] + L[j] + c;
                sig[32 + j] = (uint8_t)v;
                c = v >> 8;
            }
            break;
        }
        case 6: memset(pk, 0, 32); pk[0] = 1; break;                             /* the identity: small order */
        case 7: memset(pk, 0xff, 32); pk[0] = 0xee; pk[31] = 0x7f; break;        /* y = p + 1: not canonical */
        }
        bool ours = wasm_ed25519_verify(sig, msg, n, pk), theirs = crypto_sign_verify_detached(sig, msg, n, pk) == 0;
        disagree += ours != theirs;
        accepted += ours;
        if (ours != theirs) test_fail(__FILE__, __LINE__, "case %d (kind %d): ours %d, libsodium %d", i, i % 8, ours, theirs);
    }
    CHECKF(disagree == 0 && accepted == 15, "%d disagreements, %d accepted (want the 15 honest)", disagree, accepted);
    /* R of small order (the identity) with the S that makes [S]B - [h]A = R impossible to matter */
    uint8_t seed[32] = {9}, pk[32], sk[64], sig[64] = {1}, msg[1] = {0};
    crypto_sign_seed_keypair(pk, sk, seed);
    CHECK(!wasm_ed25519_verify(sig, msg, 1, pk) && crypto_sign_verify_detached(sig, msg, 1, pk) != 0);
#endif
}

const test_case wasm_tests[] = {
    {"wasm_sha256_vectors", test_sha256_vectors},
    {"wasm_json_subset", test_json_subset},
    {"wasm_ed25519_verify", test_ed25519_verify},
    {NULL, NULL},
};
