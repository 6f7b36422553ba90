/*
 * test_evm.c — src/evm's codecs against answers computed elsewhere.
 *
 * The references are not this code: Keccak-256 vectors are the published
 * ones (and `cast keccak` from Foundry 1.7.1 for a multi-block message);
 * the signed EIP-1559 transactions were made by `cast mktx` (Foundry 1.7.1,
 * the package in package-lock.json) from the same fields and key; the
 * EIP-55 addresses are EIP-55's own examples; the keystore files are the
 * Web3 Secret Storage definition's vectors and one with geth's light
 * scrypt parameters (its secret as `cast wallet decrypt-keystore` reads it).
 * evm_cast_* then asks `cast` itself, from node_modules (the package the
 * lock file pins), about random keys, transactions, hashes, calldata and
 * keystore files in both directions. Then every decoder gets truncations and
 * non-canonical encodings, signatures get flipped bits and high s.
 */
#include "../src/base/plow.h"

#include "../src/evm/evm.h"
#include "test.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <unistd.h>

static void hex_to(const char *h, uint8_t *out, size_t n) {
    if (strncmp(h, "0x", 2) == 0) h += 2;
    PLOW_ASSERT(plow_unhex(h, out, n) == 0);
}

static bool hash_is(const uint8_t h[32], const char *hex) {
    uint8_t want[32];
    hex_to(hex, want, 32);
    return memcmp(h, want, 32) == 0;
}

static void test_keccak(void) {
    uint8_t h[32];
    keccak256("", 0, h);
    CHECK(hash_is(h, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"));
    keccak256("abc", 3, h);
    CHECK(hash_is(h, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"));
    char a[200];
    memset(a, 'a', sizeof a);
    keccak256(a, sizeof a, h); /* two blocks of the 136-byte rate */
    CHECK(hash_is(h, "96ea54061def936c4be90b518992fdc6f12f535068a256229aca54267b4d084d"));
    /* Streaming in odd pieces gives the same bytes, at every split around the rate. */
    for (size_t split = 0; split <= 200; split += 17) {
        keccak256_ctx c;
        uint8_t g[32];
        keccak256_init(&c);
        keccak256_update(&c, a, split);
        keccak256_update(&c, a + split, 200 - split);
        keccak256_final(&c, g);
        CHECKF(memcmp(g, h, 32) == 0, "split at %zu", split);
    }
    uint8_t sel[4];
    abi_selector("transfer(address,uint256)", sel);
    CHECK(sel[0] == 0xa9 && sel[1] == 0x05 && sel[2] == 0x9c && sel[3] == 0xbb);
}

static void test_addresses(void) {
    char err[PLOW_ERR_LEN];
    static const char *const eip55[] = {
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    };
    for (size_t i = 0; i < 4; i++) {
        uint8_t a[20];
        char back[43];
        CHECKF(eth_addr_parse(eip55[i], a, err) == 0, "%s: %s", eip55[i], err);
        eth_addr_checksum(a, back);
        CHECKF(strcmp(back, eip55[i]) == 0, "%s vs %s", back, eip55[i]);
        /* One letter's case flipped breaks the checksum. */
        char bad[43];
        strcpy(bad, eip55[i]);
        for (int k = 2; k < 42; k++)
            if ((bad[k] >= 'a' && bad[k] <= 'f') || (bad[k] >= 'A' && bad[k] <= 'F')) {
                bad[k] ^= 0x20;
                break;
            }
        CHECKF(eth_addr_parse(bad, a, err) != 0, "%s accepted", bad);
    }
    uint8_t a[20];
    CHECK(eth_addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", a, err) == 0); /* all lower: no checksum */
    CHECK(eth_addr_parse("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", a, err) != 0);
    CHECK(eth_addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", a, err) != 0);
    CHECK(eth_addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", a, err) != 0);

    /* Keys: EIP-155's example key and anvil's first account. */
    static const struct { const char *secret, *addr; } keys[] = {
        {"4646464646464646464646464646464646464646464646464646464646464646", "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F"},
        {"ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"},
    };
    for (size_t i = 0; i < 2; i++) {
        uint8_t s[32];
        eth_key k;
        char got[43];
        hex_to(keys[i].secret, s, 32);
        CHECK(eth_key_from_secret(&k, s, err) == 0);
        eth_addr_checksum(k.addr, got);
        CHECKF(strcmp(got, keys[i].addr) == 0, "%s vs %s", got, keys[i].addr);
    }
    uint8_t zero[32] = {0}, order[32];
    eth_key k;
    hex_to("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", order, 32);
    CHECK(eth_key_from_secret(&k, zero, err) != 0);
    CHECK(eth_key_from_secret(&k, order, err) != 0);
}

static void test_sign_recover(void) {
    char err[PLOW_ERR_LEN];
    eth_key k;
    CHECK(eth_key_generate(&k, err) == 0);
    uint8_t h[32], r[32], s[32], who[20];
    int v;
    keccak256("plow", 4, h);
    CHECK(eth_sign_hash(&k, h, r, s, &v, err) == 0);
    CHECK(eth_recover(h, r, s, v, who, err) == 0 && memcmp(who, k.addr, 20) == 0);
    /* Another hash or a flipped bit of r recovers someone else (or nobody). */
    for (int bit = 0; bit < 256; bit += 37) {
        uint8_t r2[32];
        memcpy(r2, r, 32);
        r2[bit / 8] ^= (uint8_t)(1 << (bit % 8));
        CHECK(eth_recover(h, r2, s, v, who, err) != 0 || memcmp(who, k.addr, 20) != 0);
    }
    CHECK(eth_recover(h, r, s, 1 - v, who, err) != 0 || memcmp(who, k.addr, 20) != 0);
    CHECK(eth_recover(h, r, s, 2, who, err) != 0);
    /* s' = n - s is the malleable twin: refused. */
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                  0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    uint8_t hs[32];
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - s[i] - borrow;
        borrow = d < 0;
        hs[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    CHECK(eth_recover(h, r, hs, 1 - v, who, err) != 0);
}

/* Fields and `cast mktx` outputs (see the file comment). */
static void test_tx_known_answer(void) {
    char err[PLOW_ERR_LEN];
    uint8_t s[32];
    eth_key k;
    hex_to("4646464646464646464646464646464646464646464646464646464646464646", s, 32);
    CHECK(eth_key_from_secret(&k, s, err) == 0);
    uint8_t data1[44], data3[100];
    hex_to("deadbeef00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677", data1, 44);
    for (int i = 0; i < 100; i++) data3[i] = (uint8_t)i;
    struct {
        eth_tx tx;
        const char *to, *raw;
    } cases[] = {
        {{.chain_id = 1, .nonce = 9, .max_priority_fee = 2000000000, .max_fee = 40000000000, .gas = 21000},
         "3535353535353535353535353535353535353535",
         "02f873010984773594008509502f9000825208943535353535353535353535353535353535353535880de0b6b3a764000080c001a0d96a939aa598b136ef52239a282ac3a5ace24616dd8df06287aa4a83a327f407a00369d2510bd102b461c552a392bf47d333ed735007e5f0934a09ff3186869a9c"},
        {{.chain_id = 31337, .nonce = 300, .max_priority_fee = 1, .max_fee = 3000000000, .gas = 1000000,
          .data = data1, .data_len = 44},
         "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
         "02f897827a6982012c0184b2d05e00830f4240945aaeb6053f3e94c9b9a09f33669435e7ef1beaed80acdeadbeef00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677c001a0b14ffa2290c30f6699a5dfec1e1ee68d937fdd2ee5c3d7011fd02d140731146da055dca97d22ee0d44bff4f68bad04a2722b4213422f5f228bc6c8c098afa7c4e7"},
        {{.chain_id = 31337, .nonce = 0, .max_priority_fee = 1000000000, .max_fee = 3000000000, .gas = 500000,
          .data = data3, .data_len = 100},
         NULL,
         "02f8be827a6980843b9aca0084b2d05e008307a1208080b864000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60616263c080a028fee489299317c6b1c3a5daf1d5fa968d61508818f43ff3f3f50db613071519a04f4d8a98772fe11366158c6b8a77cd4246826d5167cbd5cbad4bde62e9939e0f"},
    };
    /* 1 ether in the first case. */
    hex_to("0000000000000000000000000000000000000000000000000de0b6b3a7640000", cases[0].tx.value, 32);
    for (size_t i = 0; i < 3; i++) {
        eth_tx *tx = &cases[i].tx;
        if (cases[i].to) {
            tx->has_to = true;
            hex_to(cases[i].to, tx->to, 20);
        }
        plow_buf raw = {0};
        uint8_t hash[32];
        CHECK(eth_tx_sign(tx, &k, &raw, hash, err) == 0);
        char *got = plow_alloc(2 * raw.len + 1);
        plow_hex(raw.data, raw.len, got);
        CHECKF(strcmp(got, cases[i].raw) == 0, "case %zu:\n got %s\nwant %s", i, got, cases[i].raw);
        free(got);
        /* Decoding gives back the fields and the signer. */
        eth_tx back;
        uint8_t from[20];
        CHECKF(eth_tx_decode(raw.data, raw.len, &back, from, err) == 0, "%s", err);
        CHECK(memcmp(from, k.addr, 20) == 0);
        CHECK(back.nonce == tx->nonce && back.chain_id == tx->chain_id && back.gas == tx->gas &&
              back.max_fee == tx->max_fee && back.has_to == tx->has_to && back.data_len == tx->data_len &&
              memcmp(back.value, tx->value, 32) == 0);
        /* Every truncation and one extra byte are refused. */
        for (size_t cut = 0; cut < raw.len; cut++)
            CHECKF(eth_tx_decode(raw.data, cut, &back, from, err) != 0, "case %zu cut %zu", i, cut);
        plow_buf_append(&raw, "", 1);
        CHECK(eth_tx_decode(raw.data, raw.len, &back, from, err) != 0);
        plow_buf_release(&raw);
    }
}

static void test_rlp(void) {
    char err[PLOW_ERR_LEN];
    /* Known encodings from the RLP specification's examples. */
    plow_buf b = {0};
    rlp_put_bytes(&b, (const uint8_t *)"dog", 3);
    CHECK(b.len == 4 && memcmp(b.data, "\x83" "dog", 4) == 0);
    b.len = 0;
    size_t start = b.len;
    rlp_put_bytes(&b, (const uint8_t *)"cat", 3);
    rlp_put_bytes(&b, (const uint8_t *)"dog", 3);
    rlp_wrap_list(&b, start);
    CHECK(b.len == 9 && memcmp(b.data, "\xc8\x83" "cat" "\x83" "dog", 9) == 0);
    b.len = 0;
    rlp_put_u64(&b, 0);
    CHECK(b.len == 1 && b.data[0] == 0x80);
    b.len = 0;
    rlp_put_u64(&b, 15);
    CHECK(b.len == 1 && b.data[0] == 0x0f);
    b.len = 0;
    rlp_put_u64(&b, 1024);
    CHECK(b.len == 3 && memcmp(b.data, "\x82\x04\x00", 3) == 0);
    b.len = 0;
    const char *lorem = "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
    rlp_put_bytes(&b, (const uint8_t *)lorem, 56);
    CHECK(b.len == 58 && b.data[0] == 0xb8 && b.data[1] == 56);
    rlp_item it;
    size_t used;
    CHECK(rlp_next(b.data, b.len, &it, &used, err) == 0 && used == 58 && it.len == 56);
    plow_buf_release(&b);
    /* Non-canonical forms are refused. */
    static const struct { const char *hex; } bad[] = {
        {"8100"},       /* one byte < 0x80 wrapped */
        {"b80141"},     /* long form for a 1-byte string */
        {"b9000141"},   /* length with a leading zero */
        {"83646f"},     /* truncated */
        {"c3"},         /* truncated list */
        {"bb"},         /* truncated length */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t buf[8];
        size_t n = strlen(bad[i].hex) / 2;
        hex_to(bad[i].hex, buf, n);
        CHECKF(rlp_next(buf, n, &it, &used, err) != 0, "%s accepted", bad[i].hex);
    }
    uint8_t lz[3] = {0x82, 0x00, 0x01};
    uint64_t v;
    CHECK(rlp_next(lz, 3, &it, &used, err) == 0 && rlp_item_u64(&it, &v, err) != 0); /* integer leading zero */
}

static void test_keystore_vectors(void) {
    char err[PLOW_ERR_LEN];
    static const char *const files[] = {
        /* Web3 Secret Storage definition: PBKDF2 */
        "{\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"6087dab2f9fdbbfaddc31a909735c1e6\"},"
        "\"ciphertext\":\"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46\",\"kdf\":\"pbkdf2\","
        "\"kdfparams\":{\"c\":262144,\"dklen\":32,\"prf\":\"hmac-sha256\",\"salt\":"
        "\"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd\"},"
        "\"mac\":\"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2\"},"
        "\"id\":\"3198bc9c-6672-5ab3-d995-4942343ae5b6\",\"version\":3}",
        /* the same definition: scrypt */
        "{\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"83dbcc02d8ccb40e466191a123791e0e\"},"
        "\"ciphertext\":\"d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c\",\"kdf\":\"scrypt\","
        "\"kdfparams\":{\"dklen\":32,\"n\":262144,\"r\":1,\"p\":8,\"salt\":"
        "\"ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19\"},"
        "\"mac\":\"2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097\"},"
        "\"id\":\"3198bc9c-6672-5ab3-d995-4942343ae5b6\",\"version\":3}",
    };
    for (size_t i = 0; i < 2; i++) {
        eth_key k;
        CHECKF(eth_keystore_open(files[i], strlen(files[i]), "testpassword", &k, err) == 0, "%zu: %s", i, err);
        CHECK(hash_is(k.secret, "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"));
        CHECK(eth_keystore_open(files[i], strlen(files[i]), "testpassworD", &k, err) != 0);
        CHECK(strstr(err, "MAC") != NULL);
    }
    /* A wallet's file with geth's light parameters and its address field. */
    const char *w =
        "{\"address\":\"5e9c27156a612a2d516c74c7a80af107856f8539\",\"crypto\":{\"cipher\":\"aes-128-ctr\","
        "\"ciphertext\":\"5eb0c790d1fb27824c78acac9233241b340c329b46aba08c6533b70ab67ea74f\",\"cipherparams\":"
        "{\"iv\":\"e5ab559977af075eda00a97c8f0ce506\"},\"kdf\":\"scrypt\",\"kdfparams\":{\"dklen\":32,\"n\":4096,"
        "\"p\":6,\"r\":8,\"salt\":\"b43142f34caf2b3b39c16f52344701f800711589f799cdae1827ac2f844f9602\"},"
        "\"mac\":\"c6ccaecca7896974dacac91a8116216ec287930bc74bfd7694a94f08bd992095\"},"
        "\"id\":\"e3554f73-4d0a-40a0-b721-fc801623d5ba\",\"version\":3}";
    eth_key k;
    CHECKF(eth_keystore_open(w, strlen(w), "test", &k, err) == 0, "%s", err);
    CHECK(hash_is(k.secret, "1fcb84974220eb76e619d7208e1446ae9c0f755e97fb220a8f61c7dc03a0dfce"));
}

static void test_keystore_roundtrip(void) {
    char err[PLOW_ERR_LEN];
    eth_key k, back;
    CHECK(eth_key_generate(&k, err) == 0);
    const eth_kdf_params pb = {ETH_KDF_PBKDF2, 1000, 0, 0};
    const eth_kdf_params *kps[] = {&ETH_KDF_LIGHT, &pb};
    for (int i = 0; i < 2; i++) {
        char *j = eth_keystore_new(&k, "pw", kps[i], err);
        CHECK(j != NULL);
        if (!j) continue;
        CHECKF(eth_keystore_open(j, strlen(j), "pw", &back, err) == 0, "%s", err);
        CHECK(memcmp(back.secret, k.secret, 32) == 0 && memcmp(back.addr, k.addr, 20) == 0);
        CHECK(eth_keystore_open(j, strlen(j), "px", &back, err) != 0);
        /* Every truncation of the file is refused, never a crash. */
        size_t n = strlen(j);
        for (size_t cut = 0; cut < n; cut += 7) CHECK(eth_keystore_open(j, cut, "pw", &back, err) != 0);
        free(j);
    }
    /* Hostile parameters are refused before scrypt runs. */
    const char *bomb =
        "{\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"83dbcc02d8ccb40e466191a123791e0e\"},"
        "\"ciphertext\":\"d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c\",\"kdf\":\"scrypt\","
        "\"kdfparams\":{\"dklen\":32,\"n\":1073741824,\"r\":64,\"p\":64,\"salt\":\"ab\"},"
        "\"mac\":\"2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097\"},\"version\":3}";
    CHECK(eth_keystore_open(bomb, strlen(bomb), "x", &back, err) != 0 && strstr(err, "bounds"));
    const char *v2 = "{\"crypto\":{},\"version\":2}";
    CHECK(eth_keystore_open(v2, strlen(v2), "x", &back, err) != 0);
    CHECK(eth_keystore_open("{", 1, "x", &back, err) != 0);
}

static void test_abi(void) {
    abi_enc e;
    plow_buf out;
    uint8_t w3[64];
    memset(w3, 0xab, sizeof w3);
    abi_begin(&e, "f(uint256,bytes32[],bytes)", 3);
    abi_u64(&e, 7);
    abi_words(&e, w3, 2);
    abi_bytes(&e, (const uint8_t *)"hi", 2);
    abi_end(&e, &out);
    /* selector, 7, offset 0x60, offset 0x60+32+64 = 0xc0, then 2, w, w, 2, "hi" padded */
    CHECK(out.len == 4 + 32 * 3 + 32 * 3 + 32 * 2);
    uint64_t v;
    char err[PLOW_ERR_LEN];
    CHECK(abi_get_u64(out.data + 4, out.len - 4, 0, &v, err) == 0 && v == 7);
    CHECK(abi_get_u64(out.data + 4, out.len - 4, 1, &v, err) == 0 && v == 0x60);
    CHECK(abi_get_u64(out.data + 4, out.len - 4, 2, &v, err) == 0 && v == 0xc0);
    CHECK(abi_get_u64(out.data + 4, out.len - 4, 3, &v, err) == 0 && v == 2);
    CHECK(abi_get_u64(out.data + 4, out.len - 4, 6, &v, err) == 0 && v == 2);
    CHECK(memcmp(out.data + 4 + 32 * 7, "hi", 2) == 0);
    CHECK(abi_get_u64(out.data + 4, out.len - 4, 1, &v, err) == 0);
    CHECK(abi_get_u64(out.data + 4 + 32 * 4, 32, 0, &v, err) != 0); /* 0xabab... does not fit */
    plow_buf_release(&out);
}


/* ---- against cast (Foundry 1.7.1, node_modules) ---- */

static char g_cast[4096];

/* The cast binary npm installed, or NULL with a failed check saying how to get it. */
static const char *cast_bin(void) {
    const char *root = getenv("PLOW_ROOT");
    snprintf(g_cast, sizeof g_cast, "%s/node_modules/@foundry-rs/cast-linux-amd64/bin/cast", root ? root : ".");
    if (access(g_cast, X_OK) != 0) {
        CHECKF(0, "%s is missing: run scripts/install-deps.sh (npm ci installs cast)", g_cast);
        return NULL;
    }
    return g_cast;
}

/* Runs a shell command; its stdout's last line, trimmed, into out. */
static int run_line(const char *cmd, char *out, size_t cap) {
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    char line[4096];
    out[0] = 0;
    while (fgets(line, sizeof line, f)) {
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' ')) line[--l] = 0;
        if (l) snprintf(out, cap, "%s", line);
    }
    return pclose(f) == 0 ? 0 : -1;
}

static void rand_bytes(uint8_t *p, size_t n) { randombytes_buf(p, n); }
static uint64_t rand_below(uint64_t m) { return m ? randombytes_uniform((uint32_t)(m > 0xffffffffu ? 0xffffffffu : m)) : 0; }

static void test_cast_keys_and_txs(void) {
    const char *cast = cast_bin();
    if (!cast) return;
    char err[PLOW_ERR_LEN], cmd[8192], got[4096];
    PLOW_ASSERT(sodium_init() >= 0);
    for (int round = 0; round < 4; round++) {
        eth_key k;
        CHECK(eth_key_generate(&k, err) == 0);
        char sk[67], addr[43];
        sk[0] = '0', sk[1] = 'x';
        plow_hex(k.secret, 32, sk + 2);
        eth_addr_checksum(k.addr, addr);
        snprintf(cmd, sizeof cmd, "%s wallet address --private-key %s", cast, sk);
        CHECKF(run_line(cmd, got, sizeof got) == 0 && strcmp(got, addr) == 0, "address: cast %s, plow %s", got, addr);

        /* A signature of a random hash: cast prints r || s || v (27/28). */
        uint8_t h[32], r[32], s[32];
        int v;
        rand_bytes(h, 32);
        char hh[65];
        plow_hex(h, 32, hh);
        CHECK(eth_sign_hash(&k, h, r, s, &v, err) == 0);
        char want[140];
        want[0] = '0', want[1] = 'x';
        plow_hex(r, 32, want + 2);
        plow_hex(s, 32, want + 66);
        snprintf(want + 130, 3, "%02x", 27 + v);
        snprintf(cmd, sizeof cmd, "%s wallet sign --private-key %s --no-hash 0x%s", cast, sk, hh);
        CHECKF(run_line(cmd, got, sizeof got) == 0 && strcmp(got, want) == 0, "sign: cast %s, plow %s", got, want);

        /* Random EIP-1559 transactions: a call, a creation, a value transfer. */
        for (int t = 0; t < 3; t++) {
            uint8_t data[300];
            size_t dn2 = rand_below(sizeof data);
            rand_bytes(data, dn2);
            eth_tx tx = {.chain_id = 1 + rand_below(100000), .nonce = rand_below(1u << 20),
                         .max_priority_fee = rand_below(5000000000u), .gas = 21000 + rand_below(3000000),
                         .data = data, .data_len = dn2};
            tx.max_fee = tx.max_priority_fee + rand_below(100000000000u);
            tx.has_to = t != 1;
            if (tx.has_to) rand_bytes(tx.to, 20);
            uint64_t wei = t == 2 ? rand_below(0xffffffffu) * 1000000007ull : 0;
            eth_put_be64(tx.value + 24, wei);
            if (t == 2) tx.data_len = 0;
            plow_buf raw = {0};
            uint8_t th[32];
            CHECK(eth_tx_sign(&tx, &k, &raw, th, err) == 0);
            char *mine = eth_hex_new(raw.data, raw.len), *dhex = eth_hex_new(data, tx.data_len);
            char to[43];
            eth_addr_checksum(tx.to, to);
            int n = snprintf(cmd, sizeof cmd,
                             "%s mktx --private-key %s --chain %llu --nonce %llu --gas-limit %llu --gas-price %llu "
                             "--priority-gas-price %llu --value %llu ",
                             cast, sk, (unsigned long long)tx.chain_id, (unsigned long long)tx.nonce,
                             (unsigned long long)tx.gas, (unsigned long long)tx.max_fee,
                             (unsigned long long)tx.max_priority_fee, (unsigned long long)wei);
            if (t == 1) snprintf(cmd + n, sizeof cmd - (size_t)n, "--create %s", dhex);
            else if (tx.data_len) snprintf(cmd + n, sizeof cmd - (size_t)n, "%s %s", to, dhex);
            else snprintf(cmd + n, sizeof cmd - (size_t)n, "%s", to);
            CHECKF(run_line(cmd, got, sizeof got) == 0 && strcmp(got, mine) == 0, "mktx %d:\n cast %s\n plow %s", t, got,
                   mine);
            free(mine);
            free(dhex);
            plow_buf_release(&raw);
        }
        eth_key_wipe(&k);
    }
}

static void test_cast_hashes_and_calldata(void) {
    const char *cast = cast_bin();
    if (!cast) return;
    char cmd[8192], got[4096];
    static const size_t lens[] = {0, 1, 31, 32, 135, 136, 137, 272, 300};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        uint8_t d[300], h[32];
        rand_bytes(d, lens[i]);
        keccak256(d, lens[i], h);
        char *dh = eth_hex_new(d, lens[i]), *hh = eth_hex_new(h, 32);
        snprintf(cmd, sizeof cmd, "%s keccak %s", cast, dh);
        CHECKF(run_line(cmd, got, sizeof got) == 0 && strcmp(got, hh) == 0, "keccak of %zu bytes: cast %s, plow %s",
               lens[i], got, hh);
        free(dh);
        free(hh);
    }
    /* Calldata of the shapes the contracts take: words, an address, bytes32[], bytes, uint256[]. */
    uint8_t words[3 * 32], addr[20], bytes[45];
    rand_bytes(words, sizeof words);
    rand_bytes(addr, 20);
    rand_bytes(bytes, sizeof bytes);
    uint64_t nums[2] = {5, 0xfffffffffffull};
    abi_enc e;
    plow_buf out;
    abi_begin(&e, "f(uint256,address,bytes32[],bytes,uint256[],bytes32)", 6);
    abi_u64(&e, 123456789);
    abi_addr(&e, addr);
    abi_words(&e, words, 3);
    abi_bytes(&e, bytes, sizeof bytes);
    abi_u64s(&e, nums, 2);
    abi_word(&e, words);
    abi_end(&e, &out);
    char *mine = eth_hex_new(out.data, out.len);
    char *w0 = eth_hex_new(words, 32), *w1 = eth_hex_new(words + 32, 32), *w2 = eth_hex_new(words + 64, 32);
    char *bh = eth_hex_new(bytes, sizeof bytes), a[43];
    eth_addr_checksum(addr, a);
    snprintf(cmd, sizeof cmd, "%s calldata 'f(uint256,address,bytes32[],bytes,uint256[],bytes32)' 123456789 %s '[%s,%s,%s]' %s '[5,17592186044415]' %s",
             cast, a, w0, w1, w2, bh, w0);
    CHECKF(run_line(cmd, got, sizeof got) == 0 && strcmp(got, mine) == 0, "calldata:\n cast %s\n plow %s", got, mine);
    free(mine);
    free(w0);
    free(w1);
    free(w2);
    free(bh);
    plow_buf_release(&out);
}

static void test_cast_keystore(void) {
    const char *cast = cast_bin();
    if (!cast) return;
    char err[PLOW_ERR_LEN], cmd[8192], got[4096], dir[4096], path[4096 + 16];
    snprintf(dir, sizeof dir, "%s/evm_keystore", test_tmpdir());
    CHECK(plow_mkdir_p(dir, err) == 0);
    /* Ours, opened by cast: scrypt (light) and PBKDF2. */
    const eth_kdf_params pb = {ETH_KDF_PBKDF2, 4096, 0, 0};
    const eth_kdf_params *kps[] = {&ETH_KDF_LIGHT, &pb};
    for (int i = 0; i < 2; i++) {
        eth_key k;
        CHECK(eth_key_generate(&k, err) == 0);
        char *j = eth_keystore_new(&k, "pass word", kps[i], err);
        CHECK(j != NULL);
        if (!j) continue;
        snprintf(path, sizeof path, "%s/plow%d", dir, i);
        CHECK(plow_write_file(path, j, strlen(j), err) == 0);
        free(j);
        char sk[67];
        sk[0] = '0', sk[1] = 'x';
        plow_hex(k.secret, 32, sk + 2);
        snprintf(cmd, sizeof cmd, "%s wallet decrypt-keystore -k %s plow%d --unsafe-password 'pass word'", cast, dir, i);
        CHECKF(run_line(cmd, got, sizeof got) == 0 && strstr(got, sk) != NULL, "kdf %d: cast says '%s'", i, got);
    }
    /* Theirs, opened by us: the address cast printed is the key's. */
    snprintf(cmd, sizeof cmd, "%s wallet new %s theirs --unsafe-password pw | grep Address", cast, dir);
    CHECK(run_line(cmd, got, sizeof got) == 0);
    const char *a = strstr(got, "0x");
    snprintf(path, sizeof path, "%s/theirs", dir);
    uint8_t *data = NULL;
    size_t n = 0;
    eth_key k = {0};
    CHECK(plow_read_file(path, 1 << 16, &data, &n, err) == 0);
    CHECKF(data && eth_keystore_open((const char *)data, n, "pw", &k, err) == 0, "%s", err);
    char mine[43];
    eth_addr_checksum(k.addr, mine);
    CHECKF(a && strcmp(a, mine) == 0, "cast made %s, plow opened %s", a ? a : "?", mine);
    CHECK(data && eth_keystore_open((const char *)data, n, "pW", &k, err) != 0);
    free(data);
}

/* ---- the contracts on a real anvil, through the C client ---- */

#include "../src/evm/chain.h"
#include "../src/merkle/merkle.h"
#include "../src/agent/agent.h"

/* One anvil and one deployment for every evm_anvil_* test (started by the
 * first, stopped by pid at exit; anvil also dies with this process). */
typedef struct world {
    bool up, failed;
    eth_anvil anvil;
    eth_rpc *rpc;
    evm_deployment d;
    eth_signer dep, req, w1, w2, ch, w3;
    eth_key referee;
} world;
static world W;

static void world_stop(void) {
    if (W.up) {
        eth_anvil_stop(&W.anvil);
        eth_rpc_free(W.rpc);
        W.up = false;
    }
}

#define WS_STAKE 1000u   /* worker_stake of the tasks below */
#define REWARD 300u

static int fund(eth_signer *s, bool worker, char err[PLOW_ERR_LEN]) {
    if (evm_token_mint(&W.dep, &W.d, s->key.addr, 1000000, NULL, err) ||
        evm_token_approve(s, &W.d, 1000000, NULL, err) || evm_account_op(s, &W.d, "deposit", 100000, NULL, err))
        return -1;
    if (worker && (evm_account_op(s, &W.d, "stake", 10000, NULL, err) ||
                   evm_register(s, &W.d, 2, "https://agents.example/plow/worker.json", NULL, err)))
        return -1;
    return 0;
}

static world *world_get(void) {
    if (W.up) return &W;
    if (W.failed) return NULL;
    char err[PLOW_ERR_LEN], dir[4096], cdir[4096];
    snprintf(dir, sizeof dir, "%s/anvil", test_tmpdir());
    const char *root = getenv("PLOW_ROOT");
    snprintf(cdir, sizeof cdir, "%s/build/contracts", root ? root : ".");
    W.failed = true;
    if (eth_anvil_start(dir, NULL, &W.anvil, err)) {
        CHECKF(0, "%s", err);
        return NULL;
    }
    W.up = true;
    atexit(world_stop);
    W.rpc = eth_rpc_new(W.anvil.url);
    eth_signer *ss[6] = {&W.dep, &W.req, &W.w1, &W.w2, &W.ch, &W.w3};
    int idx[6] = {0, 1, 2, 3, 4, 6};
    for (int i = 0; i < 6; i++) {
        eth_key k;
        if (eth_key_from_secret(&k, W.anvil.keys[idx[i]], err) || eth_signer_init(ss[i], W.rpc, &k, err)) {
            CHECKF(0, "%s", err);
            return NULL;
        }
    }
    if (eth_key_from_secret(&W.referee, W.anvil.keys[5], err)) return NULL;
    evm_deploy_params dp = {.unbond_blocks = 5, .verdict_blocks = 5, .bond_floor = 10, .slash_challenger_pct = 50,
                            .bond_accused_pct = 50};
    memcpy(dp.referee, W.referee.addr, 20);
    if (evm_deploy(&W.dep, cdir, &dp, &W.d, NULL, err) || fund(&W.req, false, err) || fund(&W.w1, true, err) ||
        fund(&W.w2, true, err) || fund(&W.w3, true, err) || fund(&W.ch, false, err)) {
        CHECKF(0, "setup: %s", err);
        return NULL;
    }
    W.failed = false;
    return &W;
}

static evm_params task_params(uint8_t kind, uint8_t mode, uint8_t replicas, uint64_t steps) {
    evm_params p = {.kind = kind, .mode = mode, .replicas = replicas, .reward = REWARD, .worker_stake = WS_STAKE,
                    .min_bond = 50, .steps = steps, .claim_blocks = 20, .work_blocks = 20, .window_blocks = 10};
    memcpy(p.requester, W.req.key.addr, 20);
    randombytes_buf(p.spec, 32);
    randombytes_buf(p.salt, 32);
    return p;
}

/* A worker's run: n+1 leaves, its values and salt. */
typedef struct run {
    uint8_t *leaves;
    size_t count;
    evm_values v;
    uint8_t salt[32];
} run;

static run make_run(uint64_t n) {
    run r = {0};
    r.count = n + 1;
    r.leaves = plow_alloc(r.count * 32);
    randombytes_buf(r.leaves, r.count * 32);
    merkle_root(r.leaves, r.count, r.v.trace_root);
    memcpy(r.v.final_state, r.leaves + n * 32, 32);
    randombytes_buf(r.v.artifact, 32);
    randombytes_buf(r.v.manifest, 32);
    r.v.n = n;
    r.v.checkpoint_every = 10;
    randombytes_buf(r.salt, 32);
    return r;
}

/* A copy of r that diverges from leaf j on (its own, consistent root). */
static run diverge(const run *h, uint64_t j) {
    run r = *h;
    r.leaves = plow_alloc(r.count * 32);
    memcpy(r.leaves, h->leaves, r.count * 32);
    for (size_t i = j; i < r.count; i++) r.leaves[i * 32] ^= 0x5a;
    merkle_root(r.leaves, r.count, r.v.trace_root);
    memcpy(r.v.final_state, r.leaves + (r.count - 1) * 32, 32);
    randombytes_buf(r.salt, 32);
    return r;
}

static void commitment_of(const evm_params *p, uint8_t slot, const eth_signer *s, const run *r, uint8_t c[32]) {
    uint8_t id[32];
    evm_task_id(p, id);
    evm_commitment(&W.d, id, slot, s->key.addr, &r->v, r->salt, c);
}

static evm_seal seal_of(const evm_params *p, uint8_t slot, const eth_signer *s, const run *r, bool revealed) {
    evm_seal sl = {0};
    memcpy(sl.worker, s->key.addr, 20);
    commitment_of(p, slot, s, r, sl.commitment);
    if (revealed) {
        memcpy(sl.final_state, r->v.final_state, 32);
        memcpy(sl.artifact, r->v.artifact, 32);
        evm_leaves_hash(r->leaves, r->count, sl.leaves);
    }
    return sl;
}

/* post, claim by s (slot `slot`), commit. */
static bool start_task(const evm_params *p, eth_signer *s, uint8_t slot, const run *r, char err[PLOW_ERR_LEN]) {
    uint8_t c[32];
    commitment_of(p, slot, s, r, c);
    return evm_claim(s, &W.d, p, NULL, err) == 0 && evm_commit(s, &W.d, p, slot, c, NULL, err) == 0;
}

static evm_account acct_of(const eth_signer *s) {
    evm_account a = {0};
    char err[PLOW_ERR_LEN];
    CHECKF(evm_get_account(W.rpc, &W.d, s->key.addr, &a, err) == 0, "%s", err);
    return a;
}

static uint64_t burned_now(void) {
    uint64_t b = 0;
    char err[PLOW_ERR_LEN];
    CHECKF(evm_get_burned(W.rpc, &W.d, &b, err) == 0, "%s", err);
    return b;
}

static evm_task_state task_state(const evm_params *p) {
    uint8_t id[32];
    evm_task_state t = {0};
    char err[PLOW_ERR_LEN];
    evm_task_id(p, id);
    CHECKF(evm_get_task(W.rpc, &W.d, id, &t, err) == 0, "%s", err);
    return t;
}

/* The tokens Plow holds equal every account's balance + stake + unbonding,
 * the open escrows and bonds, and what was burned: checked over the actors
 * when no task or challenge is open. */
static void check_supply(void) {
    char err[PLOW_ERR_LEN];
    uint64_t held = 0, sum = burned_now();
    CHECK(evm_token_balance(W.rpc, &W.d, W.d.plow, &held, err) == 0);
    eth_signer *ss[6] = {&W.dep, &W.req, &W.w1, &W.w2, &W.ch, &W.w3};
    for (int i = 0; i < 6; i++) {
        evm_account a = acct_of(ss[i]);
        sum += a.balance + a.stake + a.unbonding;
    }
    CHECKF(held == sum, "Plow holds %llu tokens, accounts + burned say %llu", (unsigned long long)held,
           (unsigned long long)sum);
}

#define REFUSED(call, what)                                                                  \
    do {                                                                                     \
        char e_[PLOW_ERR_LEN] = "";                                                          \
        int rc_ = (call);                                                                    \
        CHECKF(rc_ != 0 && strstr(e_, what) != NULL, "expected '%s', got rc %d: %s", what, rc_, e_); \
    } while (0)
#define OK(call)                                  \
    do {                                          \
        char e_[PLOW_ERR_LEN] = "";               \
        int rc_ = (call);                         \
        CHECKF(rc_ == 0, "%s: %s", #call, e_);     \
    } while (0)

static void test_anvil_encodings(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    evm_params p = task_params(1, 2, 1, 7);
    run r = make_run(7);
    uint8_t id[32], got[32], c[32];
    evm_task_id(&p, id);
    /* taskId(Params) and commitmentOf(...) computed by the contract */
    abi_enc e;
    plow_buf b;
    abi_begin(&e, "taskId((address,uint8,uint8,uint8,uint64,uint64,uint64,uint64,uint32,uint32,uint32,bytes32,bytes32))",
              13);
    uint8_t words[13 * 32];
    memset(words, 0, sizeof words);
    memcpy(words + 12, p.requester, 20);
    words[63] = p.kind, words[95] = p.mode, words[127] = p.replicas;
    eth_put_be64(words + 128 + 24, p.reward);
    eth_put_be64(words + 160 + 24, p.worker_stake);
    eth_put_be64(words + 192 + 24, p.min_bond);
    eth_put_be64(words + 224 + 24, p.steps);
    eth_put_be64(words + 256 + 24, p.claim_blocks);
    eth_put_be64(words + 288 + 24, p.work_blocks);
    eth_put_be64(words + 320 + 24, p.window_blocks);
    memcpy(words + 352, p.spec, 32);
    memcpy(words + 384, p.salt, 32);
    for (int i = 0; i < 13; i++) abi_word(&e, words + 32 * i);
    abi_end(&e, &b);
    CHECK(evm_call_word(w->rpc, w->d.plow, &b, got, err) == 0 && memcmp(got, id, 32) == 0);
    plow_buf_release(&b);
    evm_commitment(&w->d, id, 3, w->w1.key.addr, &r.v, r.salt, c);
    abi_begin(&e, "commitmentOf(bytes32,uint8,address,(bytes32,bytes32,bytes32,bytes32,uint64,uint32),bytes32)", 10);
    abi_word(&e, id);
    abi_u64(&e, 3);
    abi_addr(&e, w->w1.key.addr);
    abi_word(&e, r.v.trace_root);
    abi_word(&e, r.v.final_state);
    abi_word(&e, r.v.artifact);
    abi_word(&e, r.v.manifest);
    abi_u64(&e, r.v.n);
    abi_u64(&e, r.v.checkpoint_every);
    abi_word(&e, r.salt);
    abi_end(&e, &b);
    CHECKF(evm_call_word(w->rpc, w->d.plow, &b, got, err) == 0 && memcmp(got, c, 32) == 0, "commitmentOf: %s", err);
    plow_buf_release(&b);
    /* The deployment file round-trips; damaged ones are refused. */
    char *j = evm_deployment_json(&w->d);
    evm_deployment back;
    CHECKF(evm_deployment_parse(j, strlen(j), &back, err) == 0, "%s", err);
    CHECK(memcmp(back.plow, w->d.plow, 20) == 0 && back.chain_id == w->d.chain_id &&
          back.params.bond_floor == w->d.params.bond_floor);
    for (size_t cut = 0; cut < strlen(j); cut += 13) CHECK(evm_deployment_parse(j, cut, &back, err) != 0);
    free(j);
    CHECK(evm_deployment_parse("{\"format\":\"plow-evm-deployment/1\"}", 34, &back, err) != 0);
    free(r.leaves);
}

/* Rows P, C, K, RV, F: the optimistic happy path, exact balances. */
static void test_anvil_happy(void) {
    world *w = world_get();
    if (!w) return;
    evm_params p = task_params(2, 2, 1, 200);
    run r = make_run(200);
    evm_account req0 = acct_of(&w->req), w0 = acct_of(&w->w1);
    uint8_t c[32];
    commitment_of(&p, 0, &w->w1, &r, c);
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    REFUSED(evm_post(&w->req, &w->d, &p, NULL, e_), "exists already");
    REFUSED(evm_claim(&w->req, &w->d, &p, NULL, e_), "requester cannot claim");
    REFUSED(evm_claim(&w->ch, &w->d, &p, NULL, e_), "not registered");
    REFUSED(evm_commit(&w->w1, &w->d, &p, 0, c, NULL, e_), "holds no claimed slot");
    OK(evm_claim(&w->w1, &w->d, &p, NULL, e_));
    REFUSED(evm_claim(&w->w2, &w->d, &p, NULL, e_), "no free slot");
    CHECK(acct_of(&w->w1).locked == w0.locked + WS_STAKE);
    REFUSED(evm_commit(&w->w2, &w->d, &p, 0, c, NULL, e_), "holds no claimed slot");
    static const uint8_t zero[32];
    REFUSED(evm_commit(&w->w1, &w->d, &p, 0, zero, NULL, e_), "commitment is zero");
    OK(evm_commit(&w->w1, &w->d, &p, 0, c, NULL, e_));
    evm_task_state t = task_state(&p);
    CHECK(t.status == EVM_T_COMMITTED && t.slot[0] == EVM_S_COMMITTED);
    OK(evm_reveal(&w->w1, &w->d, &p, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_));
    REFUSED(evm_reveal(&w->w1, &w->d, &p, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_), "not committed");
    evm_seal s = seal_of(&p, 0, &w->w1, &r, true);
    REFUSED(evm_finalize(&w->ch, &w->d, &p, &s, NULL, e_), "challenge window open");
    char err[PLOW_ERR_LEN];
    CHECK(eth_mine(w->rpc, 2 * p.window_blocks, err) == 0);
    evm_seal bad = s;
    bad.artifact[0] ^= 1;
    REFUSED(evm_finalize(&w->ch, &w->d, &p, &bad, NULL, e_), "seal is not the slot's");
    OK(evm_finalize(&w->ch, &w->d, &p, &s, NULL, e_));
    REFUSED(evm_finalize(&w->ch, &w->d, &p, &s, NULL, e_), "settled already");
    t = task_state(&p);
    CHECK(t.status == EVM_T_FINALIZED && t.slot[0] == EVM_S_PAID);
    evm_account w1 = acct_of(&w->w1), req1 = acct_of(&w->req);
    CHECK(w1.balance == w0.balance + REWARD && w1.locked == w0.locked && w1.stake == w0.stake);
    CHECK(req1.balance == req0.balance - REWARD);
    check_supply();
    free(r.leaves);
}

/* P2 / RV5-RV7 / F9: a replica copies the other's commitment. */
static void test_anvil_copied_commitment(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    evm_params p = task_params(1, 1, 2, 16);
    run r = make_run(16);
    evm_account h0 = acct_of(&w->w1), c0 = acct_of(&w->w2), req0 = acct_of(&w->req);
    uint64_t b0 = burned_now();
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    CHECK(start_task(&p, &w->w1, 0, &r, err));
    OK(evm_claim(&w->w2, &w->d, &p, NULL, e_));
    REFUSED(evm_claim(&w->w2, &w->d, &p, NULL, e_), "no free slot");
    /* the copier has not committed: reveals are not open yet */
    REFUSED(evm_reveal(&w->w1, &w->d, &p, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_), "every slot has committed");
    uint8_t c[32];
    commitment_of(&p, 0, &w->w1, &r, c);
    OK(evm_commit(&w->w2, &w->d, &p, 1, c, NULL, e_)); /* the copy */
    OK(evm_reveal(&w->w1, &w->d, &p, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_));
    /* the copier replays the author's values and salt: they open for the author only */
    REFUSED(evm_reveal(&w->w2, &w->d, &p, 1, &r.v, r.salt, r.leaves, r.count, NULL, e_), "do not open");
    CHECK(eth_mine(w->rpc, 2 * p.window_blocks, err) == 0);
    evm_seal seals[2];
    seals[0] = seal_of(&p, 0, &w->w1, &r, true);
    memset(&seals[1], 0, sizeof seals[1]);
    memcpy(seals[1].worker, w->w2.key.addr, 20);
    memcpy(seals[1].commitment, c, 32);
    OK(evm_finalize(&w->ch, &w->d, &p, seals, NULL, e_));
    evm_task_state t = task_state(&p);
    CHECK(t.slot[0] == EVM_S_PAID && t.slot[1] == EVM_S_FORFEITED);
    evm_account h1 = acct_of(&w->w1), c1 = acct_of(&w->w2), req1 = acct_of(&w->req);
    CHECK(h1.balance == h0.balance + REWARD && h1.locked == h0.locked);
    CHECK(c1.stake == c0.stake - WS_STAKE && c1.locked == c0.locked && c1.balance == c0.balance);
    /* requester: pays one reward, gets the copier's back; the copier's stake
     * is burned whole (none to the poster: ledger.md F9) */
    CHECK(req1.balance == req0.balance - REWARD);
    CHECK(burned_now() == b0 + WS_STAKE);
    check_supply();
    free(r.leaves);
}

static evm_side side_of(const eth_signer *s, const run *r, uint64_t j, merkle_proof *pp, merkle_proof *pj);

/* RV6, RV8, RV9: reveals that do not match forfeit; RV (deferred root
 * check): a reveal whose leaves are not its trace root is slashed by
 * anyone's badReveal in the window, an honest one cannot be. */
static void test_anvil_reveal_rules(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    evm_params p = task_params(1, 2, 1, 20);
    run r = make_run(20);
    evm_account w0 = acct_of(&w->w1), ch0 = acct_of(&w->ch), req0 = acct_of(&w->req);
    uint64_t b0 = burned_now();
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    CHECK(start_task(&p, &w->w1, 0, &r, err));
    run other = r;
    other.v.artifact[0] ^= 1;
    REFUSED(evm_reveal(&w->w1, &w->d, &p, 0, &other.v, r.salt, r.leaves, r.count, NULL, e_), "do not open");
    REFUSED(evm_reveal(&w->w2, &w->d, &p, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_), "do not open");
    REFUSED(evm_reveal(&w->w1, &w->d, &p, 0, &r.v, r.salt, r.leaves, 0, NULL, e_), "name the leaf blob");
    run bad = r; /* a leaf blob the committed root does not cover (leaf n still the final state) */
    bad.leaves = plow_alloc(r.count * 32 + 1);
    memcpy(bad.leaves, r.leaves, r.count * 32);
    bad.leaves[5 * 32] ^= 1;
    OK(evm_reveal(&w->w1, &w->d, &p, 0, &bad.v, bad.salt, bad.leaves, bad.count, NULL, e_));
    merkle_proof pp, pj;
    evm_side a = side_of(&w->w1, &bad, 1, &pp, &pj);
    REFUSED(evm_bad_reveal(&w->w1, &w->d, &p, 0, &a, bad.leaves, bad.count * 32, NULL, e_), "cannot challenge itself");
    /* the blob must be the one revealed (its SHA-256): the committed tree's own leaves, a cut copy, one byte more */
    REFUSED(evm_bad_reveal(&w->ch, &w->d, &p, 0, &a, r.leaves, r.count * 32, NULL, e_), "not the slot's reveal");
    REFUSED(evm_bad_reveal(&w->ch, &w->d, &p, 0, &a, bad.leaves, bad.count * 32 - 32, NULL, e_), "not the slot's reveal");
    REFUSED(evm_bad_reveal(&w->ch, &w->d, &p, 0, &a, bad.leaves, bad.count * 32 + 1, NULL, e_), "not the slot's reveal");
    REFUSED(evm_bad_reveal(&w->ch, &w->d, &p, 0, &a, bad.leaves, 0, NULL, e_), "not the slot's reveal");
    OK(evm_bad_reveal(&w->ch, &w->d, &p, 0, &a, bad.leaves, bad.count * 32, NULL, e_));
    REFUSED(evm_bad_reveal(&w->ch, &w->d, &p, 0, &a, bad.leaves, bad.count * 32, NULL, e_), "not revealed");
    CHECK(task_state(&p).slot[0] == EVM_S_SLASHED);
    evm_account w1 = acct_of(&w->w1);
    CHECK(w1.stake == w0.stake - WS_STAKE && w1.locked == w0.locked && w1.balance == w0.balance);
    CHECK(acct_of(&w->ch).balance == ch0.balance + WS_STAKE / 2);
    CHECK(burned_now() == b0 + WS_STAKE / 2);
    CHECK(eth_mine(w->rpc, 2 * p.window_blocks, err) == 0);
    evm_seal s = seal_of(&p, 0, &w->w1, &bad, true);
    OK(evm_finalize(&w->ch, &w->d, &p, &s, NULL, e_));
    CHECK(task_state(&p).status == EVM_T_FINALIZED && task_state(&p).slot[0] == EVM_S_SLASHED);
    CHECK(acct_of(&w->req).balance == req0.balance); /* the reward came back */
    check_supply();

    /* an honest reveal: badReveal refused, in and after the window */
    evm_params q = task_params(1, 2, 1, 20);
    run h = make_run(20);
    evm_account w20 = acct_of(&w->w2);
    OK(evm_post(&w->req, &w->d, &q, NULL, e_));
    CHECK(start_task(&q, &w->w2, 0, &h, err));
    OK(evm_reveal(&w->w2, &w->d, &q, 0, &h.v, h.salt, h.leaves, h.count, NULL, e_));
    evm_side ha = side_of(&w->w2, &h, 1, &pp, &pj);
    REFUSED(evm_bad_reveal(&w->ch, &w->d, &q, 0, &ha, h.leaves, h.count * 32, NULL, e_), "do hash to the trace root");

    /* leaf blobs of the wrong shape, their SHA-256 revealed: n leaves for n steps, leaf n not the final state */
    for (int k = 0; k < 2; k++) {
        evm_params u = task_params(1, 2, 1, 20);
        run g = make_run(20);
        size_t cnt = k == 0 ? g.count - 1 : g.count;
        if (k == 1) g.leaves[20 * 32] ^= 1; /* leaf n changed, root recomputed: only the final-state rule breaks */
        if (k == 1) merkle_root(g.leaves, g.count, g.v.trace_root);
        evm_account gw0 = acct_of(&w->w3);
        OK(evm_post(&w->req, &w->d, &u, NULL, e_));
        CHECK(start_task(&u, &w->w3, 0, &g, err));
        OK(evm_reveal(&w->w3, &w->d, &u, 0, &g.v, g.salt, g.leaves, cnt, NULL, e_));
        evm_side ga = {0};
        memcpy(ga.worker, w->w3.key.addr, 20);
        ga.v = g.v;
        memcpy(ga.salt, g.salt, 32);
        OK(evm_bad_reveal(&w->ch, &w->d, &u, 0, &ga, g.leaves, cnt * 32, NULL, e_));
        CHECK(task_state(&u).slot[0] == EVM_S_SLASHED && acct_of(&w->w3).stake == gw0.stake - WS_STAKE);
        CHECK(eth_mine(w->rpc, 2 * u.window_blocks, err) == 0);
        evm_seal gs = seal_of(&u, 0, &w->w3, &g, true);
        evm_leaves_hash(g.leaves, cnt, gs.leaves);
        OK(evm_finalize(&w->ch, &w->d, &u, &gs, NULL, e_));
        free(g.leaves);
    }
    REFUSED(evm_bad_reveal(&w->ch, &w->d, &q, 0, &ha, h.leaves, h.count * 32, NULL, e_), "window closed");
    evm_seal hs = seal_of(&q, 0, &w->w2, &h, true);
    OK(evm_finalize(&w->ch, &w->d, &q, &hs, NULL, e_));
    CHECK(task_state(&q).slot[0] == EVM_S_PAID && acct_of(&w->w2).balance == w20.balance + REWARD);
    REFUSED(evm_bad_reveal(&w->ch, &w->d, &q, 0, &ha, h.leaves, h.count * 32, NULL, e_), "settled already");

    /* RV9: the reveal deadline passes, the slot forfeits */
    evm_params t = task_params(1, 2, 1, 20);
    w0 = acct_of(&w->w1);
    OK(evm_post(&w->req, &w->d, &t, NULL, e_));
    CHECK(start_task(&t, &w->w1, 0, &r, err));
    CHECK(eth_mine(w->rpc, t.window_blocks, err) == 0);
    REFUSED(evm_reveal(&w->w1, &w->d, &t, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_), "reveal deadline passed");
    CHECK(eth_mine(w->rpc, t.window_blocks, err) == 0);
    s = seal_of(&t, 0, &w->w1, &r, false);
    OK(evm_finalize(&w->ch, &w->d, &t, &s, NULL, e_));
    CHECK(task_state(&t).slot[0] == EVM_S_FORFEITED);
    w1 = acct_of(&w->w1);
    CHECK(w1.stake == w0.stake - WS_STAKE && w1.balance == w0.balance);
    check_supply();
    free(r.leaves);
    free(bad.leaves);
    free(h.leaves);
}

static evm_side side_of(const eth_signer *s, const run *r, uint64_t j, merkle_proof *pp, merkle_proof *pj) {
    char err[PLOW_ERR_LEN];
    evm_side sd = {0};
    memcpy(sd.worker, s->key.addr, 20);
    sd.v = r->v;
    memcpy(sd.salt, r->salt, 32);
    evm_leaves_hash(r->leaves, r->count, sd.leaves);
    memcpy(sd.leaf_prev, r->leaves + (j - 1) * 32, 32);
    memcpy(sd.leaf, r->leaves + j * 32, 32);
    PLOW_ASSERT(merkle_prove(r->leaves, r->count, j - 1, pp, err) == 0 &&
                merkle_prove(r->leaves, r->count, j, pj, err) == 0);
    sd.proof_prev = pp;
    sd.proof = pj;
    return sd;
}

/* X, V rows: a cheater slashed, a wrong challenger loses its bond, forged
 * proofs, the bond floor, duplicates, the open-challenge cap, the referee's key. */
static void test_anvil_challenges(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    const uint64_t n = 30, j = 12;
    run honest = make_run(n);
    run cheat = diverge(&honest, j); /* wrong from step j on */
    evm_params p = task_params(1, 2, 1, n);
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    CHECK(start_task(&p, &w->w1, 0, &cheat, err));
    OK(evm_reveal(&w->w1, &w->d, &p, 0, &cheat.v, cheat.salt, cheat.leaves, cheat.count, NULL, e_));
    merkle_proof pp, pj;
    evm_side a = side_of(&w->w1, &cheat, j, &pp, &pj);
    evm_dispute dis;
    uint8_t cid[32], blob[32];
    randombytes_buf(blob, 32);
    /* forged evidence */
    evm_side f = a;
    f.leaf[0] ^= 1;
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 0, &f, NULL, 0, j, blob, 60, &dis, cid, NULL, e_), "forged proof");
    f = a;
    f.proof = &pp; /* the proof of another index */
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 0, &f, NULL, 0, j, blob, 60, &dis, cid, NULL, e_), "forged proof");
    f = a;
    f.salt[0] ^= 1;
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 0, &f, NULL, 0, j, blob, 60, &dis, cid, NULL, e_), "opening is not");
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 0, &a, NULL, 0, n + 2, blob, 60, &dis, cid, NULL, e_), "not in 1..n+1");
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 0, &a, NULL, 0, j, blob, 49, &dis, cid, NULL, e_), "min_bond");
    REFUSED(evm_challenge(&w->w1, &w->d, &p, 0, &a, NULL, 0, j, blob, 60, &dis, cid, NULL, e_), "cannot challenge itself");
    evm_account ch0 = acct_of(&w->ch), w0 = acct_of(&w->w1);
    uint64_t b0 = burned_now();
    OK(evm_challenge(&w->ch, &w->d, &p, 0, &a, NULL, 0, j, blob, 60, &dis, cid, NULL, e_));
    CHECK(acct_of(&w->ch).balance == ch0.balance - 60);
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 0, &a, NULL, 0, j, blob, 60, &dis, cid, NULL, e_), "already disputes");
    CHECK(task_state(&p).status == EVM_T_CHALLENGED && task_state(&p).open_challenges == 1);
    /* a verdict not signed by the referee key */
    uint8_t computed[32];
    memcpy(computed, honest.leaves + j * 32, 32);
    static const uint8_t ev[] = "state blob + recomputed leaf";
    REFUSED(evm_verdict(&w->ch, &w->d, &w->ch.key, cid, &dis, 1, computed, ev, sizeof ev, NULL, e_),
            "not signed by the referee");
    evm_dispute dd = dis;
    dd.bond = 1; /* the dispute must be the challenge's own */
    REFUSED(evm_verdict(&w->ch, &w->d, &w->referee, cid, &dd, 1, computed, ev, sizeof ev, NULL, e_),
            "not the challenge's");
    /* carried by anyone (here the challenger), signed by the referee */
    OK(evm_verdict(&w->ch, &w->d, &w->referee, cid, &dis, 1, computed, ev, sizeof ev, NULL, e_));
    REFUSED(evm_verdict(&w->ch, &w->d, &w->referee, cid, &dis, 1, computed, ev, sizeof ev, NULL, e_), "not open");
    uint8_t st = 0;
    CHECK(evm_get_challenge_status(w->rpc, &w->d, cid, &st, err) == 0 && st == EVM_C_UPHELD);
    evm_account ch1 = acct_of(&w->ch), w1 = acct_of(&w->w1);
    CHECK(ch1.balance == ch0.balance + WS_STAKE / 2); /* bond back + half the stake */
    CHECK(w1.stake == w0.stake - WS_STAKE && w1.locked == w0.locked - WS_STAKE);
    CHECK(burned_now() == b0 + WS_STAKE / 2);
    CHECK(eth_mine(w->rpc, 2 * p.window_blocks, err) == 0);
    evm_seal s = seal_of(&p, 0, &w->w1, &cheat, true);
    OK(evm_finalize(&w->ch, &w->d, &p, &s, NULL, e_));
    CHECK(task_state(&p).slot[0] == EVM_S_SLASHED && task_state(&p).status == EVM_T_FINALIZED);

    /* A wrong challenger: an honest trace, the referee recomputes the same leaf. */
    evm_params q = task_params(1, 2, 1, n);
    run h2 = make_run(n);
    OK(evm_post(&w->req, &w->d, &q, NULL, e_));
    CHECK(start_task(&q, &w->w2, 0, &h2, err));
    OK(evm_reveal(&w->w2, &w->d, &q, 0, &h2.v, h2.salt, h2.leaves, h2.count, NULL, e_));
    /* four open challenges, the most a challenger holds; a fifth is refused */
    evm_dispute ds[5];
    uint8_t cids[5][32];
    merkle_proof pps[5], pjs[5];
    for (int k = 0; k < 5; k++) {
        evm_side sk = side_of(&w->w2, &h2, 1 + (uint64_t)k, &pps[k], &pjs[k]);
        if (k < 4)
            OK(evm_challenge(&w->ch, &w->d, &q, 0, &sk, NULL, 0, 1 + (uint64_t)k, blob, 60, &ds[k], cids[k], NULL, e_));
        else
            REFUSED(evm_challenge(&w->ch, &w->d, &q, 0, &sk, NULL, 0, 5, blob, 60, &ds[k], cids[k], NULL, e_),
                    "too many open challenges");
    }
    ch0 = acct_of(&w->ch);
    evm_account a0 = acct_of(&w->w2);
    b0 = burned_now();
    for (int k = 0; k < 4; k++)
        OK(evm_verdict(&w->req, &w->d, &w->referee, cids[k], &ds[k], 1, h2.leaves + (k + 1) * 32, ev, sizeof ev,
                       NULL, e_));
    CHECK(acct_of(&w->ch).balance == ch0.balance);          /* four bonds lost */
    CHECK(acct_of(&w->w2).balance == a0.balance + 4 * 30);   /* half of each to the accused */
    CHECK(burned_now() == b0 + 4 * 30);
    CHECK(task_state(&q).status == EVM_T_RESOLVED);
    CHECK(eth_mine(w->rpc, 2 * q.window_blocks, err) == 0);
    evm_seal s2 = seal_of(&q, 0, &w->w2, &h2, true);
    OK(evm_finalize(&w->ch, &w->d, &q, &s2, NULL, e_));
    CHECK(task_state(&q).slot[0] == EVM_S_PAID);
    check_supply();
    free(honest.leaves);
    free(cheat.leaves);
    free(h2.leaves);
}

/* X12-X17: replicated, the two replicas named; the griefer is slashed, the honest paid. */
static void test_anvil_replicated_dispute(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    const uint64_t n = 9, j = 4;
    run h = make_run(n), g = diverge(&h, j);
    evm_params p = task_params(1, 1, 2, n);
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    CHECK(start_task(&p, &w->w1, 0, &h, err));
    CHECK(start_task(&p, &w->w3, 1, &g, err));
    OK(evm_reveal(&w->w1, &w->d, &p, 0, &h.v, h.salt, h.leaves, h.count, NULL, e_));
    OK(evm_reveal(&w->w3, &w->d, &p, 1, &g.v, g.salt, g.leaves, g.count, NULL, e_));
    merkle_proof a1, a2, o1, o2;
    evm_side sg = side_of(&w->w3, &g, j, &a1, &a2), sh = side_of(&w->w1, &h, j, &o1, &o2);
    evm_dispute dis;
    uint8_t cid[32], blob[32] = {1};
    merkle_proof b1, b2, c1, c2;
    evm_side sg2 = side_of(&w->w3, &g, j + 1, &b1, &b2), sh2 = side_of(&w->w1, &h, j + 1, &c1, &c2);
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 1, &sg2, &sh2, 0, j + 1, blob, 10, &dis, cid, NULL, e_),
            "do not agree on leaf j-1");
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 1, &sg, &sg, 1, j, blob, 10, &dis, cid, NULL, e_), "is the accused");
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 1, &sg, &sh, 0, j, blob, 9, &dis, cid, NULL, e_), "network's floor");
    OK(evm_challenge(&w->ch, &w->d, &p, 1, &sg, &sh, 0, j, blob, 10, &dis, cid, NULL, e_));
    evm_account h0 = acct_of(&w->w1), g0 = acct_of(&w->w3);
    OK(evm_verdict(&w->ch, &w->d, &w->referee, cid, &dis, 1, h.leaves + j * 32, blob, 32, NULL, e_));
    CHECK(eth_mine(w->rpc, 2 * p.window_blocks, err) == 0);
    evm_seal seals[2] = {seal_of(&p, 0, &w->w1, &h, true), seal_of(&p, 1, &w->w3, &g, true)};
    OK(evm_finalize(&w->ch, &w->d, &p, seals, NULL, e_));
    evm_task_state t = task_state(&p);
    CHECK(t.slot[0] == EVM_S_PAID && t.slot[1] == EVM_S_SLASHED);
    CHECK(acct_of(&w->w1).balance == h0.balance + REWARD && acct_of(&w->w3).stake == g0.stake - WS_STAKE);
    check_supply();
    free(h.leaves);
    free(g.leaves);
}

/* D rows, the void cap (X / F6a), expire (Y), unbonding (U, M1). */
static void test_anvil_da_void_expire(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    const uint64_t n = 8;
    run r = make_run(n);
    evm_params p = task_params(1, 2, 1, n);
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    CHECK(start_task(&p, &w->w2, 0, &r, err));
    OK(evm_reveal(&w->w2, &w->d, &p, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_));
    merkle_proof pp, pj;
    evm_side a = side_of(&w->w2, &r, 1, &pp, &pj);
    /* the manifest blob, answered in calldata */
    static const uint8_t manifest[] = "{\"files\":[\"ckpt-0\",\"ckpt-8\"]}";
    uint8_t want[32];
    plow_sha256_once(manifest, sizeof manifest - 1, want);
    evm_dispute d1, d2, d3;
    uint8_t c1[32], c2[32], c3[32], other[32];
    randombytes_buf(other, 32);
    OK(evm_da_challenge(&w->ch, &w->d, &p, 0, &a, want, 50, &d1, c1, NULL, e_));
    REFUSED(evm_da_challenge(&w->ch, &w->d, &p, 0, &a, want, 50, &d1, c1, NULL, e_), "already disputes");
    OK(evm_da_challenge(&w->ch, &w->d, &p, 0, &a, other, 50, &d2, c2, NULL, e_));
    REFUSED(evm_da_answer(&w->w2, &w->d, c1, &d1, manifest, sizeof manifest - 2, NULL, e_), "not the blob demanded");
    evm_account a0 = acct_of(&w->w2);
    OK(evm_da_answer(&w->w2, &w->d, c1, &d1, manifest, sizeof manifest - 1, NULL, e_));
    CHECK(acct_of(&w->w2).balance == a0.balance + 25);
    /* a step challenge the referee never rules */
    OK(evm_challenge(&w->ch, &w->d, &p, 0, &a, NULL, 0, 1, want, 50, &d3, c3, NULL, e_));
    REFUSED(evm_lapse(&w->ch, &w->d, c2, &d2, NULL, e_), "can still be decided");
    CHECK(eth_mine(w->rpc, w->d.params.verdict_blocks, err) == 0);
    REFUSED(evm_da_answer(&w->w2, &w->d, c2, &d2, manifest, sizeof manifest - 1, NULL, e_), "deadline passed");
    evm_account ch0 = acct_of(&w->ch);
    a0 = acct_of(&w->w2);
    /* the data challenge lapsed unanswered: the accused is slashed */
    OK(evm_lapse(&w->req, &w->d, c2, &d2, NULL, e_));
    CHECK(acct_of(&w->ch).balance == ch0.balance + 50 + WS_STAKE / 2);
    CHECK(acct_of(&w->w2).stake == a0.stake - WS_STAKE);
    CHECK(task_state(&p).slot[0] == EVM_S_SLASHED);
    REFUSED(evm_lapse(&w->ch, &w->d, c3, &d3, NULL, e_), "can still be decided");
    CHECK(eth_mine(w->rpc, 2 * w->d.params.verdict_blocks, err) == 0);
    REFUSED(evm_verdict(&w->ch, &w->d, &w->referee, c3, &d3, 1, r.leaves + 32, want, 32, NULL, e_),
            "verdict deadline passed");
    OK(evm_lapse(&w->ch, &w->d, c3, &d3, NULL, e_)); /* bond back; the slot is slashed already, not voided */
    CHECK(eth_mine(w->rpc, 2 * p.window_blocks, err) == 0);
    evm_seal s = seal_of(&p, 0, &w->w2, &r, true);
    OK(evm_finalize(&w->ch, &w->d, &p, &s, NULL, e_));

    /* the void cap alone: an unruled challenge voids the honest-or-not slot, nobody paid */
    evm_params q = task_params(1, 2, 1, n);
    run r2 = make_run(n);
    OK(evm_post(&w->req, &w->d, &q, NULL, e_));
    CHECK(start_task(&q, &w->w1, 0, &r2, err));
    OK(evm_reveal(&w->w1, &w->d, &q, 0, &r2.v, r2.salt, r2.leaves, r2.count, NULL, e_));
    merkle_proof qp, qj;
    evm_side qa = side_of(&w->w1, &r2, 2, &qp, &qj);
    evm_dispute d4;
    uint8_t c4[32];
    OK(evm_challenge(&w->ch, &w->d, &q, 0, &qa, NULL, 0, 2, want, 50, &d4, c4, NULL, e_));
    CHECK(eth_mine(w->rpc, 3 * w->d.params.verdict_blocks + 2 * q.window_blocks, err) == 0);
    evm_account w0 = acct_of(&w->w1), req0 = acct_of(&w->req);
    evm_seal s4 = seal_of(&q, 0, &w->w1, &r2, true);
    REFUSED(evm_finalize(&w->ch, &w->d, &q, &s4, NULL, e_), "awaits its verdict");
    OK(evm_lapse(&w->ch, &w->d, c4, &d4, NULL, e_));
    OK(evm_finalize(&w->ch, &w->d, &q, &s4, NULL, e_));
    CHECK(task_state(&q).slot[0] == EVM_S_VOID);
    CHECK(acct_of(&w->w1).balance == w0.balance && acct_of(&w->w1).locked == w0.locked - WS_STAKE &&
          acct_of(&w->w1).stake == w0.stake);
    CHECK(acct_of(&w->req).balance == req0.balance + REWARD);

    /* expire: a claim that never commits forfeits */
    evm_params x = task_params(4, 2, 1, n);
    OK(evm_post(&w->req, &w->d, &x, NULL, e_));
    OK(evm_claim(&w->w3, &w->d, &x, NULL, e_));
    evm_seal none = {0};
    REFUSED(evm_expire(&w->ch, &w->d, &x, &none, NULL, e_), "can still be committed");
    REFUSED(evm_finalize(&w->ch, &w->d, &x, &none, NULL, e_), "send expire");
    CHECK(eth_mine(w->rpc, x.claim_blocks + x.work_blocks, err) == 0);
    uint8_t c[32];
    commitment_of(&x, 0, &w->w3, &r, c);
    REFUSED(evm_commit(&w->w3, &w->d, &x, 0, c, NULL, e_), "commit deadline passed");
    evm_account x0 = acct_of(&w->w3);
    req0 = acct_of(&w->req);
    uint64_t bx = burned_now();
    OK(evm_expire(&w->ch, &w->d, &x, &none, NULL, e_));
    CHECK(task_state(&x).status == EVM_T_EXPIRED && task_state(&x).slot[0] == EVM_S_FORFEITED);
    /* the escrow back, the forfeited stake burned whole (none to the poster: ledger.md Y) */
    CHECK(acct_of(&w->w3).stake == x0.stake - WS_STAKE && acct_of(&w->req).balance == req0.balance + REWARD);
    CHECK(burned_now() == bx + WS_STAKE);

    /* unbonding */
    evm_account u0 = acct_of(&w->w3);
    REFUSED(evm_account_op(&w->w3, &w->d, "unstake", u0.stake + 1, NULL, e_), "exceeds the stake");
    OK(evm_account_op(&w->w3, &w->d, "unstake", 100, NULL, e_));
    REFUSED(evm_account_op(&w->w3, &w->d, "release", 0, NULL, e_), "still unbonding");
    CHECK(eth_mine(w->rpc, w->d.params.unbond_blocks, err) == 0);
    OK(evm_account_op(&w->w3, &w->d, "release", 0, NULL, e_));
    CHECK(acct_of(&w->w3).balance == u0.balance + 100 && acct_of(&w->w3).stake == u0.stake - 100);
    REFUSED(evm_register(&w->w3, &w->d, 3, "x", NULL, e_), "neither person");
    check_supply();
    free(r.leaves);
    free(r2.leaves);
}

/* The leaf blob off-chain (docs/evm.md): a reveal naming a leaf blob its
 * worker never publishes loses the slot to a data challenge; bytes that do
 * not hash to the revealed leaf blob answer nothing; the blob itself, in
 * time, answers and the challenger's bond goes to the accused; a step
 * challenge whose proof is against another root is refused. */
static void test_anvil_leaf_blob(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    const uint64_t n = 12;
    run r = make_run(n), o = make_run(n), h = make_run(n);
    evm_params p = task_params(1, 2, 1, n);
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    CHECK(start_task(&p, &w->w1, 0, &r, err));
    OK(evm_reveal(&w->w1, &w->d, &p, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_)); /* the blob: never published */
    merkle_proof pp, pj, op, oj;
    evm_side a = side_of(&w->w1, &r, 3, &pp, &pj);
    /* this slot's opening with another tree's leaves and paths: a proof against another root */
    evm_side f = side_of(&w->w1, &o, 3, &op, &oj);
    f.v = r.v;
    memcpy(f.salt, r.salt, 32);
    memcpy(f.leaves, a.leaves, 32);
    evm_dispute dis, dd, dq;
    uint8_t cid[32], dc[32], qc[32];
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 0, &f, NULL, 0, 3, p.spec, 60, &dis, cid, NULL, e_), "forged proof");
    f = a; /* the right proofs with another leaf blob than the revealed one */
    f.leaves[0] ^= 1;
    REFUSED(evm_challenge(&w->ch, &w->d, &p, 0, &f, NULL, 0, 3, p.spec, 60, &dis, cid, NULL, e_), "opening is not");
    uint8_t want[32];
    plow_sha256_once(r.leaves, r.count * 32, want); /* the leaf blob: the n+1 leaves, concatenated */
    CHECK(memcmp(want, a.leaves, 32) == 0);
    evm_account ch0 = acct_of(&w->ch), w0 = acct_of(&w->w1), req0 = acct_of(&w->req);
    uint64_t b0 = burned_now();
    OK(evm_da_challenge(&w->ch, &w->d, &p, 0, &a, want, 50, &dd, dc, NULL, e_));
    REFUSED(evm_da_answer(&w->w1, &w->d, dc, &dd, o.leaves, o.count * 32, NULL, e_), "not the blob demanded");
    REFUSED(evm_da_answer(&w->w1, &w->d, dc, &dd, r.leaves, r.count * 32 - 32, NULL, e_), "not the blob demanded");
    REFUSED(evm_lapse(&w->ch, &w->d, dc, &dd, NULL, e_), "can still be decided");
    CHECK(eth_mine(w->rpc, w->d.params.verdict_blocks, err) == 0);
    REFUSED(evm_da_answer(&w->w1, &w->d, dc, &dd, r.leaves, r.count * 32, NULL, e_), "deadline passed");
    OK(evm_lapse(&w->req, &w->d, dc, &dd, NULL, e_));
    CHECK(task_state(&p).slot[0] == EVM_S_SLASHED);
    evm_account w1 = acct_of(&w->w1);
    CHECK(acct_of(&w->ch).balance == ch0.balance + WS_STAKE / 2);
    CHECK(w1.stake == w0.stake - WS_STAKE && w1.locked == w0.locked - WS_STAKE && w1.balance == w0.balance);
    CHECK(burned_now() == b0 + (WS_STAKE - WS_STAKE / 2));
    CHECK(eth_mine(w->rpc, 2 * p.window_blocks, err) == 0);
    evm_seal s = seal_of(&p, 0, &w->w1, &r, true);
    OK(evm_finalize(&w->ch, &w->d, &p, &s, NULL, e_));
    CHECK(acct_of(&w->req).balance == req0.balance + REWARD); /* nobody paid: the escrow back */

    /* the worker answers with the leaf blob itself, in time: REJECTED, the bond's share to it, then paid */
    evm_params q = task_params(1, 2, 1, n);
    OK(evm_post(&w->req, &w->d, &q, NULL, e_));
    CHECK(start_task(&q, &w->w2, 0, &h, err));
    OK(evm_reveal(&w->w2, &w->d, &q, 0, &h.v, h.salt, h.leaves, h.count, NULL, e_));
    evm_side ha = side_of(&w->w2, &h, 3, &pp, &pj);
    evm_account w20 = acct_of(&w->w2);
    OK(evm_da_challenge(&w->ch, &w->d, &q, 0, &ha, ha.leaves, 50, &dq, qc, NULL, e_));
    OK(evm_da_answer(&w->w2, &w->d, qc, &dq, h.leaves, h.count * 32, NULL, e_));
    CHECK(acct_of(&w->w2).balance == w20.balance + 25);
    CHECK(eth_mine(w->rpc, 2 * q.window_blocks, err) == 0);
    evm_seal hs = seal_of(&q, 0, &w->w2, &h, true);
    OK(evm_finalize(&w->ch, &w->d, &q, &hs, NULL, e_));
    CHECK(task_state(&q).slot[0] == EVM_S_PAID && acct_of(&w->w2).balance == w20.balance + 25 + REWARD);
    check_supply();
    free(r.leaves);
    free(o.leaves);
    free(h.leaves);
}

/* The contract's Merkle tree against src/merkle on random trees, valid and damaged proofs. */
static void test_anvil_merkle_differential(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 64, 100, 201};
    int cases = 0, agree = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si];
        uint8_t *leaves = plow_alloc(n * 32);
        randombytes_buf(leaves, n * 32);
        uint8_t mine[32], theirs[32];
        merkle_root(leaves, n, mine);
        CHECKF(evm_merkle_root(w->rpc, &w->d, leaves, n, theirs, err) == 0 && memcmp(mine, theirs, 32) == 0,
               "root of %zu leaves differs: %s", n, err);
        for (int t = 0; t < 4; t++) {
            uint64_t i = randombytes_uniform((uint32_t)n);
            merkle_proof p;
            PLOW_ASSERT(merkle_prove(leaves, n, i, &p, err) == 0);
            for (int dmg = 0; dmg < 9; dmg++) {
                merkle_proof q = p;
                uint8_t leaf[32];
                memcpy(leaf, leaves + i * 32, 32);
                uint64_t en = n, ei = i;
                switch (dmg) {
                case 0: break;                                                 /* valid */
                case 1: leaf[randombytes_uniform(32)] ^= 1; break;             /* another leaf */
                case 2: if (q.depth) q.path[randombytes_uniform(q.depth)][3] ^= 0x80; break;
                case 3: if (q.depth) q.depth--; break;                         /* short path */
                case 4: if (q.depth < MERKLE_MAX_DEPTH) q.depth++; break;      /* long path */
                case 5: q.index = (i + 1) % n; break;                          /* names another index */
                case 6: q.n = n + 1; break;                                    /* another size */
                case 7: ei = (i + 1) % n; break;                               /* expected elsewhere */
                case 8: en = n + 1; break;                                     /* expected size differs */
                }
                bool c = merkle_verify(mine, en, ei, leaf, &q), e = !c;
                CHECKF(evm_merkle_verify(w->rpc, &w->d, mine, en, ei, leaf, &q, &e, err) == 0, "%s", err);
                CHECKF(c == e, "n %zu i %llu damage %d: C says %d, the contract %d", n, (unsigned long long)i, dmg, c,
                       e);
                if (dmg == 0) CHECK(c);
                cases++;
                agree += c == e;
            }
        }
        free(leaves);
    }
    CHECK(cases == agree && cases == 15 * 4 * 9);
}

/* ---- the agents' EVM settlement backend (src/agent/backend_evm.c) ---- */

/* A blob store for the agents' tests: the node's blob API (GET/HEAD/PUT
 * /v1/blob/HEX, /v1/status's chain_id) over a small table in memory, the
 * bytes checked against their hash as the node checks them. Nothing else. */
#include <microhttpd.h>

#define STUB_BLOBS 64
typedef struct stub_blob {
    uint8_t hash[32];
    uint8_t *data;
    size_t n;
} stub_blob;
static stub_blob stub_blobs[STUB_BLOBS];
static size_t stub_n;
static pthread_mutex_t stub_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct stub_req {
    uint8_t *buf;
    size_t n;
} stub_req;

static enum MHD_Result stub_send(struct MHD_Connection *c, unsigned code, const void *body, size_t n) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result stub_answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                   const char *version, const char *data, size_t *size, void **ptr) {
    (void)cls, (void)version;
    stub_req *q = *ptr;
    if (!q) {
        *ptr = plow_calloc(1, sizeof *q);
        return MHD_YES;
    }
    if (*size) {
        q->buf = realloc(q->buf, q->n + *size);
        PLOW_ASSERT(q->buf != NULL);
        memcpy(q->buf + q->n, data, *size);
        q->n += *size;
        *size = 0;
        return MHD_YES;
    }
    enum MHD_Result rc;
    char body[256];
    uint8_t h[32];
    if (strcmp(url, "/v1/status") == 0) {
        char hex[65];
        memset(h, 0x11, 32);
        plow_hex(h, 32, hex);
        int k = snprintf(body, sizeof body, "{\"chain_id\": \"%s\", \"height\": 1}", hex);
        rc = stub_send(c, 200, body, (size_t)k);
    } else if (strncmp(url, "/v1/blob/", 9) == 0 && plow_unhex(url + 9, h, 32) == 0) {
        pthread_mutex_lock(&stub_mu);
        stub_blob *b = NULL;
        for (size_t i = 0; i < stub_n; i++)
            if (memcmp(stub_blobs[i].hash, h, 32) == 0) b = &stub_blobs[i];
        if (strcmp(method, "PUT") == 0) {
            uint8_t got[32];
            plow_sha256_once(q->buf ? q->buf : (uint8_t *)"", q->n, got);
            if (memcmp(got, h, 32) != 0 || (!b && stub_n == STUB_BLOBS)) {
                rc = stub_send(c, 400, "{\"error\": \"bad blob\"}", 22);
            } else {
                if (!b) {
                    b = &stub_blobs[stub_n++];
                    memcpy(b->hash, h, 32);
                    b->data = q->buf;
                    b->n = q->n;
                    q->buf = NULL;
                }
                int k = snprintf(body, sizeof body, "{\"hash\": \"%s\"}", url + 9);
                rc = stub_send(c, 200, body, (size_t)k);
            }
        } else if (!b) {
            rc = stub_send(c, 404, "{\"error\": \"no such blob\"}", 26);
        } else {
            rc = stub_send(c, 200, b->data, b->n);
        }
        pthread_mutex_unlock(&stub_mu);
    } else {
        rc = stub_send(c, 404, "{\"error\": \"not here\"}", 23);
    }
    return rc;
}

static void stub_done(void *cls, struct MHD_Connection *c, void **ptr, enum MHD_RequestTerminationCode t) {
    (void)cls, (void)c, (void)t;
    stub_req *q = *ptr;
    if (q) free(q->buf);
    free(q);
    *ptr = NULL;
}

/* The stub's URL (started once, for the whole run). */
static const char *stub_url(void) {
    static char url[64];
    static struct MHD_Daemon *d;
    if (!d) {
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, stub_answer, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, stub_done, NULL, MHD_OPTION_END);
        PLOW_ASSERT(d != NULL);
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(url, sizeof url, "http://127.0.0.1:%u", di ? (unsigned)di->port : 0u);
    }
    return url;
}

/* Whether the stub holds the blob. */
static bool stub_has(const uint8_t h[32]) {
    bool has = false;
    pthread_mutex_lock(&stub_mu);
    for (size_t i = 0; i < stub_n; i++) has |= memcmp(stub_blobs[i].hash, h, 32) == 0;
    pthread_mutex_unlock(&stub_mu);
    return has;
}

/* An agent settling on the world's deployment with anvil key `ki`. */
static bool evm_agent(agent *a, const char *name, int ki, char err[PLOW_ERR_LEN]) {
    char dir[4096], kf[4200], ef[4200], df[4200];
    snprintf(dir, sizeof dir, "%s/agent-%s", test_tmpdir(), name);
    snprintf(kf, sizeof kf, "%s.key", dir);
    snprintf(ef, sizeof ef, "%s.evmkey", dir);
    snprintf(df, sizeof df, "%s/deployment.json", test_tmpdir());
    ledger_key k;
    ledger_key_generate(&k);
    int rc = ledger_key_save(&k, kf, err);
    ledger_key_wipe(&k);
    char hex[70] = "0x";
    plow_hex(W.anvil.keys[ki], 32, hex + 2);
    strcat(hex, "\n");
    char *j = evm_deployment_json(&W.d);
    if (rc == 0) rc = plow_write_file(ef, hex, strlen(hex), err);
    if (rc == 0) rc = plow_write_file(df, j, strlen(j), err);
    free(j);
    /* the node only serves blobs (the leaf blobs the reveals name): the stub above */
    if (rc == 0) rc = agent_open(a, name, kf, stub_url(), dir, err);
    if (rc == 0) rc = agent_use_evm(a, W.anvil.url, df, ef, err);
    return rc == 0;
}

static ledger_task be_task(agent *a, const uint8_t id[32]) {
    ledger_task t;
    memset(&t, 0, sizeof t);
    char err[PLOW_ERR_LEN];
    CHECKF(agent_task(a, id, &t, NULL, NULL, err) == 0, "%s", err);
    return t;
}

static bool listed(agent *a, const char *q, const uint8_t id[32]) {
    ledger_task *ts = NULL;
    size_t n = 0;
    char err[PLOW_ERR_LEN];
    bool found = false;
    CHECKF(agent_list_tasks(a, q, &ts, &n, err) == 0, "%s: %s", q, err);
    for (size_t i = 0; i < n; i++) found |= memcmp(ts[i].id, id, 32) == 0;
    free(ts);
    return found;
}

/* The agents' settlement calls (register, post in halves, claim, commit,
 * reveal, finalize; task, listing, account, reveal reads) through the EVM
 * backend on the real contracts, with exact balances, and an adversary's
 * calls refused as the embedded ledger refuses them. */
static void test_anvil_agent_backend(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    agent rq, wk, fresh, thief;
    CHECKF(evm_agent(&rq, "rq", 1, err) && evm_agent(&wk, "wk", 2, err) && evm_agent(&fresh, "fresh", 7, err) &&
               evm_agent(&thief, "thief", 3, err),
           "%s", err);
    /* register: a fresh key has no profile, then an agent one */
    ledger_account acct;
    CHECKF(agent_account(&fresh, fresh.key.pk, &acct, err) == 0, "%s", err);
    CHECK(acct.profile == 0);
    CHECKF(agent_ensure_registered(&fresh, "{\"kinds\":[\"train\"]}", &acct, err) == 0, "%s", err);
    CHECK(acct.profile == LEDGER_AGENT);
    /* post in halves: unknown before the submit, known after */
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_POST_TASK;
    ledger_task_params *lp = &tx.u.post;
    lp->kind = LEDGER_KIND_TRAIN, lp->mode = LEDGER_MODE_OPTIMISTIC, lp->replicas = 1, lp->reward = REWARD;
    lp->worker_stake = WS_STAKE, lp->min_bond = 50, lp->steps = 20, lp->claim_blocks = 20, lp->work_blocks = 20;
    lp->window_blocks = 10;
    randombytes_buf(lp->spec, 32);
    uint8_t id[32];
    int result = -9;
    char msg[PLOW_ERR_LEN];
    ledger_account r0, w0;
    CHECK(agent_account(&rq, rq.key.pk, &r0, err) == 0 && agent_account(&wk, wk.key.pk, &w0, err) == 0);
    CHECKF(agent_post_prepare(&rq, &tx, id, err) == 0, "%s", err);
    CHECK(agent_post_status(&rq, id, 0, &result, msg, err) != 0 && strstr(err, "does not know"));
    CHECKF(agent_post_submit(&rq, &tx, err) == 0, "%s", err);
    CHECKF(agent_post_status(&rq, id, 0, &result, msg, err) == 0 && result == LEDGER_TX_OK, "%s", err);
    uint64_t h;
    CHECK(agent_height(&wk, &h, err) == 0);
    char q[200], me[LEDGER_ADDR_STR_LEN];
    snprintf(q, sizeof q, "status=open&deadline_from=%" PRIu64, h + 1);
    CHECK(listed(&wk, q, id));
    CHECK(!listed(&wk, "status=claimed", id));
    ledger_task t = be_task(&wk, id);
    CHECK(t.status == LEDGER_TASK_OPEN && t.p.reward == REWARD && t.p.steps == 20 && t.p.replicas == 1);
    CHECK(memcmp(t.p.spec, lp->spec, 32) == 0 && memcmp(t.requester, w->req.key.addr, 20) == 0);
    CHECK(memcmp(be_task(&rq, id).requester, rq.key.pk, 32) == 0); /* its own address is its own key */
    /* claim, and a second claim of the one slot refused as the ledger refuses it */
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_CLAIM;
    memcpy(tx.u.ref.task, id, 32);
    CHECKF(agent_send(&wk, &tx, err) == 0, "%s", err);
    CHECK(agent_send(&thief, &tx, err) != 0 && agent_refused(err) && strstr(err, "no free slot"));
    t = be_task(&rq, id);
    CHECK(t.status == LEDGER_TASK_CLAIMED && t.slots[0].status == LEDGER_SLOT_CLAIMED);
    CHECK(memcmp(be_task(&wk, id).slots[0].worker, wk.key.pk, 32) == 0);
    ledger_addr_format(wk.key.pk, me);
    snprintf(q, sizeof q, "status=open,claimed&addr=%s", me);
    CHECK(listed(&wk, q, id));
    ledger_addr_format(fresh.key.pk, me);
    snprintf(q, sizeof q, "status=open,claimed&addr=%s", me);
    CHECK(!listed(&fresh, q, id));
    /* commit: the backend's commitment is the contract's */
    run r = make_run(20);
    ledger_tx *rv = plow_calloc(1, sizeof *rv);
    rv->type = LEDGER_TX_REVEAL;
    memcpy(rv->u.open.task, id, 32);
    memcpy(rv->u.open.trace_root, r.v.trace_root, 32);
    memcpy(rv->u.open.final_state, r.v.final_state, 32);
    memcpy(rv->u.open.artifact, r.v.artifact, 32);
    memcpy(rv->u.open.manifest, r.v.manifest, 32);
    rv->u.open.n = r.v.n;
    rv->u.open.checkpoint_every = r.v.checkpoint_every;
    memcpy(rv->u.open.salt, r.salt, 32);
    rv->u.open.count = (uint32_t)r.count;
    memcpy(rv->u.open.leaves, r.leaves, r.count * 32);
    uint8_t c[32], c2[32];
    CHECK(agent_commitment(&wk, rv, 0, c) == 0);
    evm_commitment(&w->d, id, 0, w->w1.key.addr, &r.v, r.salt, c2);
    CHECK(memcmp(c, c2, 32) == 0);
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_COMMIT;
    memcpy(tx.u.commit.task, id, 32);
    memcpy(tx.u.commit.trace_root, c, 32);
    tx.u.commit.n = 20;
    CHECK(agent_send(&thief, &tx, err) != 0 && strstr(err, "no claimed slot"));
    CHECKF(agent_send(&wk, &tx, err) == 0, "%s", err);
    t = be_task(&rq, id);
    CHECK(t.status == LEDGER_TASK_COMMITTED && t.window_end > 0 && memcmp(t.slots[0].commitment, c, 32) == 0);
    /* reveal: the thief cannot open it, the worker does; anyone reads the leaves back */
    CHECK(agent_send(&thief, rv, err) != 0);
    CHECKF(agent_send(&wk, rv, err) == 0, "%s", err);
    t = be_task(&rq, id);
    CHECK(t.slots[0].revealed_at > 0 && memcmp(t.slots[0].trace_root, r.v.trace_root, 32) == 0 &&
          t.slots[0].n == 20 && t.slots[0].checkpoint_every == r.v.checkpoint_every);
    ledger_tx *back = plow_calloc(1, sizeof *back);
    CHECKF(agent_reveal_of(&thief, &t, 0, back, err) == 0, "%s", err);
    CHECK(back->u.open.count == r.count && memcmp(back->u.open.leaves, r.leaves, r.count * 32) == 0 &&
          memcmp(back->u.open.salt, r.salt, 32) == 0 && memcmp(back->sender, t.slots[0].worker, 32) == 0);
    CHECK(agent_reveal_of(&thief, &t, 1, back, err) != 0);
    /* the leaves travel as the leaf blob: published on the node before the reveal named it */
    uint8_t lb[32], lb2[32];
    plow_sha256_once(r.leaves, r.count * 32, lb);
    CHECK(stub_has(lb));
    CHECK(agent_leaf_blob(&thief, &t, 0, lb2, err) == 0 && memcmp(lb, lb2, 32) == 0);
    snprintf(q, sizeof q, "status=committed&deadline_from=%" PRIu64, t.window_end);
    CHECK(listed(&thief, q, id));
    snprintf(q, sizeof q, "status=committed&deadline_from=%" PRIu64, t.window_end + 1);
    CHECK(!listed(&thief, q, id));
    /* finalize: early refused, then paid exactly */
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_FINALIZE;
    memcpy(tx.u.ref.task, id, 32);
    CHECK(agent_send(&rq, &tx, err) != 0 && agent_refused(err) && strstr(err, "window open"));
    CHECK(eth_mine(w->rpc, 2 * t.p.window_blocks, err) == 0); /* (tx, where lp points, was reused) */
    CHECKF(agent_send(&thief, &tx, err) == 0, "%s", err); /* anyone may finalize */
    t = be_task(&wk, id);
    CHECK(t.status == LEDGER_TASK_FINALIZED && t.slots[0].status == LEDGER_SLOT_PAID && t.escrow == 0);
    ledger_account r1, w1;
    CHECK(agent_account(&rq, rq.key.pk, &r1, err) == 0 && agent_account(&wk, wk.key.pk, &w1, err) == 0);
    CHECK(r1.balance == r0.balance - REWARD && w1.balance == w0.balance + REWARD && w1.locked == w0.locked);
    CHECK(listed(&wk, "status=finalized", id));
    CHECK(listed(&wk, "status=finalized&kind=train", id));
    CHECK(!listed(&wk, "status=finalized&kind=lora", id));
    /* reads the agents use for timing; malformed queries refused */
    uint8_t bh[32];
    uint64_t ms = 0;
    CHECK(agent_block_hash(&wk, t.posted_at, bh, &ms, err) == 0 && ms > 0);
    ledger_task *ts = NULL;
    size_t n = 0;
    CHECK(agent_list_tasks(&wk, "status=nosuch", &ts, &n, err) != 0);
    CHECK(agent_list_tasks(&wk, "deadline_from=x", &ts, &n, err) != 0);
    CHECK(agent_list_tasks(&wk, "colour=red", &ts, &n, err) != 0);
    check_supply();
    free(rv);
    free(back);
    free(r.leaves);
    agent_close(&rq);
    agent_close(&wk);
    agent_close(&fresh);
    agent_close(&thief);
}


/* V6 on the chain: a referee's "unrunnable" ruling (2) -- the poster's fault.
 * The challenge is upheld with its bond back, nobody is slashed or paid, the
 * task can be expired at once (every held slot VOID, its stake unlocked,
 * the whole escrow back), never finalized; a data challenge cannot be ruled
 * unrunnable; a ruling of 3 is refused; a replicated task's other worker
 * gets its stake back too; a second challenge still open lapses later with
 * its bond back and nobody slashed. */
static void forget_nonces(void);

static void test_anvil_unrunnable(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    forget_nonces();
    const uint64_t n = 10, j = 5;
    run r1 = make_run(n), r2 = diverge(&r1, j);
    evm_params p = task_params(1, 1, 2, n); /* replicated x2: w1 honest, w2 diverging */
    evm_account req0 = acct_of(&w->req), w10 = acct_of(&w->w1), w20 = acct_of(&w->w2), ch0 = acct_of(&w->ch);
    uint64_t b0 = burned_now();
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    uint8_t c1[32], c2[32];
    commitment_of(&p, 0, &w->w1, &r1, c1);
    commitment_of(&p, 1, &w->w2, &r2, c2);
    OK(evm_claim(&w->w1, &w->d, &p, NULL, e_));
    OK(evm_claim(&w->w2, &w->d, &p, NULL, e_));
    OK(evm_commit(&w->w1, &w->d, &p, 0, c1, NULL, e_));
    OK(evm_commit(&w->w2, &w->d, &p, 1, c2, NULL, e_));
    OK(evm_reveal(&w->w1, &w->d, &p, 0, &r1.v, r1.salt, r1.leaves, r1.count, NULL, e_));
    OK(evm_reveal(&w->w2, &w->d, &p, 1, &r2.v, r2.salt, r2.leaves, r2.count, NULL, e_));
    merkle_proof pp1, pj1, pp2, pj2;
    evm_side a = side_of(&w->w2, &r2, j, &pp2, &pj2), o = side_of(&w->w1, &r1, j, &pp1, &pj1);
    evm_dispute dis, dis2, dda;
    uint8_t cid[32], cid2[32], cida[32], blob[32];
    randombytes_buf(blob, 32);
    OK(evm_challenge(&w->ch, &w->d, &p, 1, &a, &o, 0, j, blob, 60, &dis, cid, NULL, e_));
    /* a second, plain challenge of the same slot at another step, and a data challenge */
    merkle_proof q1, q2;
    evm_side a2 = side_of(&w->w2, &r2, j + 1, &q1, &q2);
    OK(evm_challenge(&w->ch, &w->d, &p, 1, &a2, NULL, 0, j + 1, blob, 60, &dis2, cid2, NULL, e_));
    OK(evm_da_challenge(&w->ch, &w->d, &p, 1, &a, r2.v.manifest, 60, &dda, cida, NULL, e_));
    static const uint8_t zero[32];
    /* adversaries: no unrunnable data challenge, no ruling 3, nobody but the referee */
    REFUSED(evm_verdict(&w->ch, &w->d, &w->referee, cida, &dda, 2, zero, NULL, 0, NULL, e_), "for step challenges");
    REFUSED(evm_verdict(&w->ch, &w->d, &w->referee, cid, &dis, 3, zero, NULL, 0, NULL, e_), "ruling must be 0, 1 or 2");
    REFUSED(evm_verdict(&w->req, &w->d, &w->req.key, cid, &dis, 2, zero, NULL, 0, NULL, e_), "not signed by the referee");
    OK(evm_verdict(&w->ch, &w->d, &w->referee, cid, &dis, 2, zero, NULL, 0, NULL, e_));
    uint8_t st = 0;
    CHECK(evm_get_challenge_status(w->rpc, &w->d, cid, &st, err) == 0 && st == EVM_C_UPHELD);
    evm_task_state ts = task_state(&p);
    CHECK(ts.unrunnable && ts.open_challenges == 2);
    /* nobody slashed by the ruling, the bond back (the two other bonds still held) */
    CHECK(acct_of(&w->ch).balance == ch0.balance - 120);
    CHECK(acct_of(&w->w2).stake == w20.stake && burned_now() == b0);
    /* never finalized, even past its window; expired at once, before its deadlines */
    evm_seal seals[2] = {seal_of(&p, 0, &w->w1, &r1, true), seal_of(&p, 1, &w->w2, &r2, true)};
    CHECK(eth_mine(w->rpc, 2 * p.window_blocks + 1, err) == 0);
    REFUSED(evm_finalize(&w->w1, &w->d, &p, seals, NULL, e_), "ruled unrunnable");
    evm_seal bad[2] = {seals[0], seals[1]};
    bad[1].artifact[0] ^= 1;
    REFUSED(evm_expire(&w->w1, &w->d, &p, bad, NULL, e_), "seal is not the slot's");
    OK(evm_expire(&w->w1, &w->d, &p, seals, NULL, e_));
    ts = task_state(&p);
    CHECK(ts.status == EVM_T_EXPIRED && ts.slot[0] == EVM_S_VOID && ts.slot[1] == EVM_S_VOID);
    evm_account w11 = acct_of(&w->w1), w21 = acct_of(&w->w2), req1 = acct_of(&w->req);
    CHECK(w11.balance == w10.balance && w11.stake == w10.stake && w11.locked == w10.locked);
    CHECK(w21.balance == w20.balance && w21.stake == w20.stake && w21.locked == w20.locked);
    CHECK(req1.balance == req0.balance); /* the escrow back, whole */
    REFUSED(evm_expire(&w->w1, &w->d, &p, seals, NULL, e_), "settled already");
    /* the other two challenges lapse past their void deadline: bonds back, nobody slashed */
    CHECK(eth_mine(w->rpc, 4 * w->d.params.verdict_blocks + 2, err) == 0);
    OK(evm_lapse(&w->ch, &w->d, cid2, &dis2, NULL, e_));
    OK(evm_lapse(&w->ch, &w->d, cida, &dda, NULL, e_));
    CHECK(acct_of(&w->ch).balance == ch0.balance);
    CHECK(acct_of(&w->w2).stake == w20.stake && burned_now() == b0);
    check_supply();
    free(r1.leaves);
    free(r2.leaves);
}

/* D3 on the chain: a worker's unrunnable claim against the requester
 * (unrunnableClaim), each outcome: ruled unrunnable (bond back, the task
 * flagged, claims refused, expire voids the held slot and returns the
 * escrow), ruled runnable (REJECTED: the bond's share to the requester, the
 * rest burned, the task goes on and pays), unruled (lapses with the bond
 * back, nothing voided; expire waited for it). Adversaries: a non-holder,
 * the requester, another slot, a forged seal, a low bond, a duplicate. */
static void test_anvil_unrunnable_claim(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    forget_nonces();
    static const uint8_t zero[32];
    const uint64_t n = 10;
    evm_account req0 = acct_of(&w->req), w10 = acct_of(&w->w1), w20 = acct_of(&w->w2);
    uint64_t b0 = burned_now();
    /* A: replicated x2, one slot claimed: ruled unrunnable */
    evm_params p = task_params(1, 1, 2, n);
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    OK(evm_claim(&w->w1, &w->d, &p, NULL, e_));
    evm_dispute dis, dup;
    uint8_t cid[32], dcid[32];
    REFUSED(evm_unrunnable_claim(&w->w2, &w->d, &p, 0, NULL, 60, &dis, cid, NULL, e_), "only a worker holding");
    REFUSED(evm_unrunnable_claim(&w->w2, &w->d, &p, 1, NULL, 60, &dis, cid, NULL, e_), "only a worker holding");
    REFUSED(evm_unrunnable_claim(&w->req, &w->d, &p, 0, NULL, 60, &dis, cid, NULL, e_), "cannot challenge itself");
    REFUSED(evm_unrunnable_claim(&w->w1, &w->d, &p, 1, NULL, 60, &dis, cid, NULL, e_), "only a worker holding");
    REFUSED(evm_unrunnable_claim(&w->w1, &w->d, &p, 0, NULL, 49, &dis, cid, NULL, e_), "min_bond");
    OK(evm_unrunnable_claim(&w->w1, &w->d, &p, 0, NULL, 60, &dis, cid, NULL, e_));
    REFUSED(evm_unrunnable_claim(&w->w1, &w->d, &p, 0, NULL, 60, &dup, dcid, NULL, e_), "already disputes");
    CHECK(acct_of(&w->w1).balance == w10.balance - 60);
    REFUSED(evm_verdict(&w->req, &w->d, &w->req.key, cid, &dis, 2, zero, NULL, 0, NULL, e_), "not signed by the referee");
    OK(evm_verdict(&w->ch, &w->d, &w->referee, cid, &dis, 2, zero, NULL, 0, NULL, e_));
    uint8_t st = 0;
    CHECK(evm_get_challenge_status(w->rpc, &w->d, cid, &st, err) == 0 && st == EVM_C_UPHELD);
    CHECK(task_state(&p).unrunnable && acct_of(&w->w1).balance == w10.balance);
    REFUSED(evm_claim(&w->w2, &w->d, &p, NULL, e_), "ruled unrunnable");
    REFUSED(evm_unrunnable_claim(&w->w1, &w->d, &p, 0, NULL, 60, &dup, dcid, NULL, e_), "ruled unrunnable already");
    evm_seal none[2];
    memset(none, 0, sizeof none);
    OK(evm_expire(&w->w2, &w->d, &p, none, NULL, e_)); /* at once, before its deadlines */
    evm_task_state ts = task_state(&p);
    CHECK(ts.status == EVM_T_EXPIRED && ts.slot[0] == EVM_S_VOID && ts.slot[1] == EVM_S_EMPTY);
    evm_account w11 = acct_of(&w->w1);
    CHECK(w11.balance == w10.balance && w11.stake == w10.stake && w11.locked == w10.locked);
    CHECK(acct_of(&w->req).balance == req0.balance && burned_now() == b0);

    /* B: optimistic, committed: the seal proves the slot; ruled runnable -> REJECTED, then paid */
    const uint64_t ab = burned_now();
    evm_params q = task_params(1, 2, 1, n);
    run r = make_run(n);
    evm_account rq1 = acct_of(&w->req);
    OK(evm_post(&w->req, &w->d, &q, NULL, e_));
    CHECK(start_task(&q, &w->w2, 0, &r, err));
    evm_seal sl = seal_of(&q, 0, &w->w2, &r, false), forged = sl;
    forged.commitment[0] ^= 1;
    REFUSED(evm_unrunnable_claim(&w->w2, &w->d, &q, 0, NULL, 60, &dis, cid, NULL, e_), "only a worker holding");
    REFUSED(evm_unrunnable_claim(&w->w2, &w->d, &q, 0, &forged, 60, &dis, cid, NULL, e_), "only a worker holding");
    REFUSED(evm_unrunnable_claim(&w->w1, &w->d, &q, 0, &sl, 60, &dis, cid, NULL, e_), "only a worker holding");
    OK(evm_unrunnable_claim(&w->w2, &w->d, &q, 0, &sl, 60, &dis, cid, NULL, e_));
    OK(evm_verdict(&w->ch, &w->d, &w->referee, cid, &dis, 1, zero, q.spec, 32, NULL, e_));
    CHECK(evm_get_challenge_status(w->rpc, &w->d, cid, &st, err) == 0 && st == EVM_C_REJECTED);
    CHECK(!task_state(&q).unrunnable);
    CHECK(acct_of(&w->req).balance == rq1.balance - REWARD + 30 && burned_now() == ab + 30);
    OK(evm_reveal(&w->w2, &w->d, &q, 0, &r.v, r.salt, r.leaves, r.count, NULL, e_));
    CHECK(eth_mine(w->rpc, 2 * q.window_blocks, err) == 0);
    evm_seal rs = seal_of(&q, 0, &w->w2, &r, true);
    OK(evm_finalize(&w->ch, &w->d, &q, &rs, NULL, e_));
    CHECK(task_state(&q).slot[0] == EVM_S_PAID && acct_of(&w->w2).balance == w20.balance - 60 + REWARD);

    /* C: nobody rules: expire waits for the claim; it lapses (bond back, the slot not voided), then forfeits */
    evm_params u = task_params(1, 2, 1, n);
    evm_account w12 = acct_of(&w->w1);
    uint64_t cb = burned_now();
    OK(evm_post(&w->req, &w->d, &u, NULL, e_));
    OK(evm_claim(&w->w1, &w->d, &u, NULL, e_));
    OK(evm_unrunnable_claim(&w->w1, &w->d, &u, 0, NULL, 60, &dis, cid, NULL, e_));
    CHECK(eth_mine(w->rpc, u.claim_blocks + u.work_blocks + 1, err) == 0);
    evm_seal one = {0};
    REFUSED(evm_expire(&w->ch, &w->d, &u, &one, NULL, e_), "awaits its verdict");
    CHECK(eth_mine(w->rpc, 3 * w->d.params.verdict_blocks + 1, err) == 0);
    OK(evm_lapse(&w->ch, &w->d, cid, &dis, NULL, e_));
    CHECK(evm_get_challenge_status(w->rpc, &w->d, cid, &st, err) == 0 && st == EVM_C_EXPIRED);
    CHECK(task_state(&u).slot[0] == EVM_S_CLAIMED && acct_of(&w->w1).balance == w12.balance);
    OK(evm_expire(&w->ch, &w->d, &u, &one, NULL, e_));
    CHECK(task_state(&u).slot[0] == EVM_S_FORFEITED && acct_of(&w->w1).stake == w12.stake - WS_STAKE &&
          burned_now() == cb + WS_STAKE);
    check_supply();
    free(r.leaves);
}

/* The EVM referee agent's ruling 2 end to end (agent_evm_referee_round):
 * the task's spec is not on the blob node (a node that has no blob at all
 * here: a libmicrohttpd stub answering 404), so the task cannot be run:
 * the referee signs ruling 2 and expires the task at once. */

static enum MHD_Result nf_answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *data, size_t *size, void **ptr) {
    (void)cls, (void)url, (void)method, (void)version, (void)data, (void)size, (void)ptr;
    static const char body[] = "{\"error\": \"no such blob\"}";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, 404, r);
    MHD_destroy_response(r);
    return rc;
}

static void test_anvil_referee_unrunnable(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    forget_nonces();
    /* every earlier test's challenge past its void deadline: this referee rules only the one below */
    CHECK(eth_mine(w->rpc, 4 * w->d.params.verdict_blocks + 2, err) == 0);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, nf_answer, NULL,
                                            MHD_OPTION_END);
    CHECK(d != NULL);
    if (!d) return;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", di ? (unsigned)di->port : 0u);
    const uint64_t n = 10, j = 3;
    run honest = make_run(n), cheat = diverge(&honest, j);
    evm_params p = task_params(1, 2, 1, n);
    evm_account req0 = acct_of(&w->req), w10 = acct_of(&w->w1), ch0 = acct_of(&w->ch);
    uint64_t b0 = burned_now();
    OK(evm_post(&w->req, &w->d, &p, NULL, e_));
    CHECK(start_task(&p, &w->w1, 0, &cheat, err));
    OK(evm_reveal(&w->w1, &w->d, &p, 0, &cheat.v, cheat.salt, cheat.leaves, cheat.count, NULL, e_));
    merkle_proof pp, pj;
    evm_side a = side_of(&w->w1, &cheat, j, &pp, &pj);
    evm_dispute dis;
    uint8_t cid[32], blob[32];
    randombytes_buf(blob, 32);
    OK(evm_challenge(&w->ch, &w->d, &p, 0, &a, NULL, 0, j, blob, 60, &dis, cid, NULL, e_));
    agent ref, wrong;
    memset(&ref, 0, sizeof ref);
    memset(&wrong, 0, sizeof wrong);
    char dir[4096], kf[4200], ef[4200], df[4200];
    snprintf(dir, sizeof dir, "%s/agent-referee", test_tmpdir());
    snprintf(kf, sizeof kf, "%s.key", dir);
    snprintf(ef, sizeof ef, "%s.evmkey", dir);
    snprintf(df, sizeof df, "%s/deployment.json", test_tmpdir());
    ledger_key k;
    ledger_key_generate(&k);
    CHECK(ledger_key_save(&k, kf, err) == 0);
    ledger_key_wipe(&k);
    char hex[70] = "0x";
    plow_hex(w->anvil.keys[5], 32, hex + 2); /* the deployment's referee */
    char *dj = evm_deployment_json(&w->d);
    CHECK(plow_write_file(ef, hex, strlen(hex), err) == 0 && plow_write_file(df, dj, strlen(dj), err) == 0);
    free(dj);
    CHECKF(agent_open(&ref, "referee", kf, url, dir, err) == 0 && agent_use_evm(&ref, w->anvil.url, df, ef, err) == 0,
           "%s", err);
    /* an agent with another key is no referee */
    int ruled = -1;
    CHECK(evm_agent(&wrong, "notref", 4, err));
    CHECK(agent_evm_referee_round(&wrong, &ruled, err) != 0 && strstr(err, "not the deployment's referee"));
    ruled = 0;
    CHECKF(agent_evm_referee_round(&ref, &ruled, err) == 0, "%s", err);
    CHECK(ruled == 1);
    uint8_t st = 0;
    CHECK(evm_get_challenge_status(w->rpc, &w->d, cid, &st, err) == 0 && st == EVM_C_UPHELD);
    evm_task_state ts = task_state(&p);
    CHECKF(ts.status == EVM_T_EXPIRED && ts.slot[0] == EVM_S_VOID, "task status %u slot %u", ts.status, ts.slot[0]);
    /* the poster's fault: the worker keeps its stake, the challenger its bond, the requester its escrow */
    evm_account w11 = acct_of(&w->w1);
    CHECK(w11.balance == w10.balance && w11.stake == w10.stake && w11.locked == w10.locked);
    CHECK(acct_of(&w->ch).balance == ch0.balance && acct_of(&w->req).balance == req0.balance);
    CHECK(burned_now() == b0);
    /* a second round rules nothing more */
    ruled = -1;
    CHECK(agent_evm_referee_round(&ref, &ruled, err) == 0 && ruled == 0);
    /* D3 through the agents: a worker agent's unrunnable claim (want zero), the referee agent rules it (the spec
     * is not on its node): ruling 2, the task expired at once, the claimant's bond and stake back */
    agent wk;
    memset(&wk, 0, sizeof wk);
    CHECKF(evm_agent(&wk, "claimant", 2, err), "%s", err); /* w1's key */
    evm_params u = task_params(1, 2, 1, n);
    uint8_t uid[32];
    evm_task_id(&u, uid);
    evm_account w12 = acct_of(&w->w1), rq2 = acct_of(&w->req);
    OK(evm_post(&w->req, &w->d, &u, NULL, e_));
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_CLAIM;
    memcpy(tx.u.ref.task, uid, 32);
    CHECKF(agent_send(&wk, &tx, err) == 0, "%s", err);
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_DA_CHALLENGE;
    memcpy(tx.u.da.task, uid, 32);
    memcpy(tx.u.da.accused, w->ch.key.addr, 20); /* not the requester */
    tx.u.da.bond = 60;
    CHECK(agent_send(&wk, &tx, err) != 0 && strstr(err, "accuses the task's requester"));
    memset(tx.u.da.accused, 0, 32);
    memcpy(tx.u.da.accused, w->req.key.addr, 20);
    CHECKF(agent_send(&wk, &tx, err) == 0, "%s", err);
    CHECK(acct_of(&w->w1).balance == w12.balance - 60);
    ruled = 0;
    CHECKF(agent_evm_referee_round(&ref, &ruled, err) == 0 && ruled == 1, "%s (ruled %d)", err, ruled);
    ts = task_state(&u);
    CHECKF(ts.status == EVM_T_EXPIRED && ts.slot[0] == EVM_S_VOID, "task status %u slot %u", ts.status, ts.slot[0]);
    evm_account w13 = acct_of(&w->w1);
    CHECK(w13.balance == w12.balance && w13.stake == w12.stake && w13.locked == w12.locked);
    CHECK(acct_of(&w->req).balance == rq2.balance && burned_now() == b0);
    agent_close(&wk);
    forget_nonces();
    check_supply();
    agent_close(&ref);
    agent_close(&wrong);
    MHD_stop_daemon(d);
    free(honest.leaves);
    free(cheat.leaves);
}

/* ---- the node's chain index (src/node/evmwatch.c) ---- */

#include "../src/evm/evindex.h"
#include "../src/node/node_internal.h"

typedef struct ci_ids {
    uint8_t (*id)[32];
    size_t n;
} ci_ids;

static bool ci_collect(const ledger_task *t, void *arg) {
    ci_ids *c = arg;
    c->id = plow_realloc(c->id, (c->n + 1) * sizeof *c->id);
    memcpy(c->id[c->n++], t->id, 32);
    return true;
}

static evmwatch *g_ci;
static size_t g_ci_chs;

/* evmwatch_each gives the blob collection the challenges of live tasks only */
static bool ci_skip(const ledger_challenge *c, void *arg) {
    (void)arg;
    uint8_t w[32];
    evm_task_state st = {0};
    CHECK(g_ci && evmwatch_word(g_ci, c->task, w));
    evm_task_word_decode(w, &st);
    CHECK(st.status != EVM_T_FINALIZED && st.status != EVM_T_EXPIRED);
    g_ci_chs++;
    return true;
}

static void ci_sync(evmwatch *ci) {
    char err[PLOW_ERR_LEN];
    bool more = true;
    for (int i = 0; i < 50 && more; i++) CHECKF(evmwatch_step(ci, &more, err) == 0, "step: %s", err);
    CHECK(!more);
}

/* The index equals the chain: for every task id the test knows, the index
 * has it exactly when the contract does, with the contract's own word (an
 * eth_call at the head, which is the indexed block with 0 confirmations);
 * the listing holds as many tasks as exist on chain. */
static void ci_equals_chain(evmwatch *ci, const uint8_t (*ids)[32], size_t n, const char *when) {
    char err[PLOW_ERR_LEN];
    size_t on_chain = 0;
    uint64_t head = 0;
    CHECK(eth_block_number(W.rpc, &head, err) == 0);
    evmwatch_status cs;
    evmwatch_get_status(ci, &cs);
    CHECKF(cs.indexed == head, "%s: indexed %llu, head %llu", when, (unsigned long long)cs.indexed,
           (unsigned long long)head);
    uint8_t bh[32];
    CHECK(eth_block_hash(W.rpc, head, bh, err) == 0);
    CHECKF(memcmp(bh, cs.hash, 32) == 0, "%s: the indexed block's hash is not the chain's", when);
    for (size_t i = 0; i < n; i++) {
        uint8_t direct[32], idx[32];
        CHECK(evm_get_task_word(W.rpc, &W.d, ids[i], direct, err) == 0);
        static const uint8_t zero[32];
        bool exists = memcmp(direct, zero, 32) != 0;
        on_chain += exists;
        bool have = evmwatch_word(ci, ids[i], idx);
        CHECKF(have == exists, "%s: task %zu %s on chain but %s in the index", when, i, exists ? "exists" : "does not exist",
               have ? "is" : "is not");
        if (have && exists) CHECKF(memcmp(direct, idx, 32) == 0, "%s: task %zu: the index's word is not the chain's", when, i);
        ledger_task t;
        ledger_challenge *ch = NULL;
        size_t nch = 0;
        if (have && evmwatch_task(ci, ids[i], &t, &ch, &nch)) {
            evm_task_state st;
            evm_task_word_decode(direct, &st);
            CHECK(t.status == st.status && t.window_end == st.window_end);
        }
        free(ch);
    }
    /* every task the index holds (other tests' too) is the chain's, word for word */
    ci_ids all = {0};
    g_ci = ci;
    evmwatch_each(ci, ci_collect, ci_skip, &all);
    for (size_t i = 0; i < all.n; i++) {
        uint8_t direct[32], idx[32];
        CHECK(evm_get_task_word(W.rpc, &W.d, all.id[i], direct, err) == 0);
        CHECK(evmwatch_word(ci, all.id[i], idx));
        CHECKF(memcmp(direct, idx, 32) == 0, "%s: an indexed task's word is not the chain's", when);
    }
    free(all.id);
    /* as many as the chain's TaskPosted events say (eth_getLogs of the canonical chain now) */
    eth_log *logs = NULL;
    size_t nl = 0, posted = 0;
    CHECK(eth_get_logs(W.rpc, W.d.plow, W.d.block, head, &logs, &nl, err) == 0);
    evm_index ix;
    evm_index_init(&ix, W.d.plow);
    for (size_t i = 0; i < nl; i++) posted += logs[i].ntopics > 0 && memcmp(logs[i].topics[0], ix.t_posted, 32) == 0;
    evm_index_release(&ix);
    eth_logs_free(logs, nl);
    CHECKF(cs.tasks == posted && all.n == posted, "%s: %zu tasks indexed, %zu posted on chain", when, cs.tasks, posted);
    on_chain = posted;
    taskq q = {.limit = TASKQ_LIMIT_MAX, .max_reward = UINT64_MAX};
    ledger_task *ts = NULL;
    bool more = false;
    char next[TASKQ_CURSOR_LEN];
    size_t got = taskidx_page(evmwatch_tasks(ci), &q, TASKIDX_SCAN_MAX, &ts, &more, next);
    CHECKF(got == on_chain, "%s: the listing has %zu tasks, the chain %zu", when, got, on_chain);
    free(ts);
}

static int rpc_text(const char *method, const char *params, char *out, size_t cap, char err[PLOW_ERR_LEN]) {
    char *res = NULL;
    if (eth_rpc_call(W.rpc, method, params, &res, err)) return -1;
    snprintf(out, cap, "%s", res);
    free(res);
    return 0;
}

static void forget_nonces(void) {
    eth_signer *ss[6] = {&W.dep, &W.req, &W.w1, &W.w2, &W.ch, &W.w3};
    for (int i = 0; i < 6; i++) ss[i]->nonce_known = false;
}

static void test_anvil_chain_index(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN], dir[4096], dep[4200];
    snprintf(dir, sizeof dir, "%s/chainidx", test_tmpdir());
    CHECK(plow_mkdir_p(dir, err) == 0);
    snprintf(dep, sizeof dep, "%s/deployment.json", dir);
    char *dj = evm_deployment_json(&w->d);
    CHECK(plow_write_file(dep, dj, strlen(dj), err) == 0);
    free(dj);
    enum { NT = 7 };
    evm_params p[NT];
    uint8_t ids[NT][32];
    for (int i = 0; i < NT; i++) {
        p[i] = task_params(2, 2, 1, 8);
        evm_task_id(&p[i], ids[i]);
    }
    run r = make_run(8);
    forget_nonces(); /* the tests before used the same keys through agents */
    evmwatch *ci = NULL;
    CHECKF(evmwatch_open(&ci, dir, w->anvil.url, dep, 0, err) == 0, "%s", err);
    if (!ci) return;
    /* tasks 0..2: posted; 0 committed, 1 claimed */
    OK(evm_post(&w->req, &w->d, &p[0], NULL, e_));
    OK(evm_post(&w->req, &w->d, &p[1], NULL, e_));
    OK(evm_post(&w->req, &w->d, &p[2], NULL, e_));
    CHECK(start_task(&p[0], &w->w1, 0, &r, err));
    OK(evm_claim(&w->w2, &w->d, &p[1], NULL, e_));
    ci_sync(ci);
    ci_equals_chain(ci, (const uint8_t (*)[32])ids, NT, "first sync");
    ledger_task t;
    ledger_challenge *ch = NULL;
    size_t nch = 0;
    CHECK(evmwatch_task(ci, ids[1], &t, &ch, &nch) && t.slots[0].status == LEDGER_SLOT_CLAIMED);
    uint8_t pk[32];
    evm_addr_pk(w->w2.key.addr, pk);
    CHECK(memcmp(t.slots[0].worker, pk, 32) == 0);
    free(ch);
    /* the blob collection's view (upkeep.c): every task with its status and slots, the challenges of live ones */
    ci_ids all = {0};
    g_ci = ci;
    evmwatch_each(ci, ci_collect, ci_skip, &all);
    bool seen1 = false;
    for (size_t i = 0; i < all.n; i++) seen1 |= memcmp(all.id[i], ids[1], 32) == 0;
    CHECK(seen1);
    free(all.id);
    /* a restart mid-stream: the node stops, the chain goes on, the node resumes */
    evmwatch_status cs;
    evmwatch_get_status(ci, &cs);
    size_t before = cs.tasks;
    evmwatch_close(ci);
    ci = NULL;
    OK(evm_reveal(&w->w1, &w->d, &p[0], 0, &r.v, r.salt, r.leaves, r.count, NULL, e_));
    OK(evm_post(&w->req, &w->d, &p[3], NULL, e_));
    CHECKF(evmwatch_open(&ci, dir, w->anvil.url, dep, 0, err) == 0, "%s", err);
    if (!ci) return;
    evmwatch_get_status(ci, &cs);
    CHECK(cs.tasks == before); /* what was stored, before it looks at the chain again */
    ci_sync(ci);
    ci_equals_chain(ci, (const uint8_t (*)[32])ids, NT, "after a restart");
    CHECK(evmwatch_task(ci, ids[0], &t, &ch, &nch) && t.slots[0].revealed_at > 0 &&
          memcmp(t.slots[0].trace_root, r.v.trace_root, 32) == 0);
    free(ch);
    /* a reorg: blocks indexed (task 4 posted, task 2 claimed) are replaced by others (task 5) */
    char snap[80], ok[80];
    CHECK(rpc_text("evm_snapshot", "[]", snap, sizeof snap, err) == 0);
    OK(evm_post(&w->req, &w->d, &p[4], NULL, e_));
    OK(evm_claim(&w->w3, &w->d, &p[2], NULL, e_));
    ci_sync(ci);
    ci_equals_chain(ci, (const uint8_t (*)[32])ids, NT, "before the reorg");
    char params[120];
    snprintf(params, sizeof params, "[%s]", snap);
    CHECK(rpc_text("evm_revert", params, ok, sizeof ok, err) == 0 && strcmp(ok, "true") == 0);
    forget_nonces();
    OK(evm_post(&w->req, &w->d, &p[5], NULL, e_));
    CHECK(eth_mine(w->rpc, 3, err) == 0); /* the new branch is longer than the old */
    uint64_t reorgs0 = cs.reorgs;
    ci_sync(ci);
    ci_equals_chain(ci, (const uint8_t (*)[32])ids, NT, "after a reorg");
    evmwatch_get_status(ci, &cs);
    CHECK(cs.reorgs == reorgs0 + 1);
    CHECK(!evmwatch_word(ci, ids[4], (uint8_t[32]){0}));
    CHECK(evmwatch_task(ci, ids[2], &t, &ch, &nch) && t.status == LEDGER_TASK_OPEN);
    free(ch);
    /* a reorg to a shorter chain, then a restart with it unseen */
    CHECK(rpc_text("evm_snapshot", "[]", snap, sizeof snap, err) == 0);
    OK(evm_post(&w->req, &w->d, &p[6], NULL, e_));
    CHECK(eth_mine(w->rpc, 2, err) == 0);
    ci_sync(ci);
    ci_equals_chain(ci, (const uint8_t (*)[32])ids, NT, "before the second reorg");
    evmwatch_close(ci);
    ci = NULL;
    snprintf(params, sizeof params, "[%s]", snap);
    CHECK(rpc_text("evm_revert", params, ok, sizeof ok, err) == 0 && strcmp(ok, "true") == 0);
    forget_nonces();
    CHECKF(evmwatch_open(&ci, dir, w->anvil.url, dep, 0, err) == 0, "%s", err);
    if (!ci) return;
    ci_sync(ci);
    ci_equals_chain(ci, (const uint8_t (*)[32])ids, NT, "after a shorter reorg and a restart");
    /* the index of another deployment is refused */
    evm_deployment other = w->d;
    other.plow[0] ^= 1;
    dj = evm_deployment_json(&other);
    CHECK(plow_write_file(dep, dj, strlen(dj), err) == 0);
    free(dj);
    evmwatch *bad = NULL;
    CHECK(evmwatch_open(&bad, dir, w->anvil.url, dep, 0, err) != 0 && strstr(err, "another deployment"));
    evmwatch_close(ci);
    free(r.leaves);
}


/* ---- the differential test: one script on the embedded ledger and on anvil ----
 *
 * The same actions in the same order: a transfer, stakes, registrations, an
 * optimistic task paid, an optimistic task whose worker cheats at step 4 and
 * is challenged (the referee's verdict: upheld), a task nobody claims
 * (expired), a replicated task both workers agree on (paid). At the end every
 * actor's balance, stake and locked stake, what was burned, every task's and
 * slot's status and the challenge's status are the same on both.
 * Units: one base unit of plow is one base unit of the token; the ledger's
 * fees are set to 0 (min_fee 0: on the chain gas is paid in ETH, outside the
 * token), so no scaling is needed. The ledger's genesis gives each actor what
 * its EVM account holds when the script starts (the anvil is shared with the
 * tests before). Heights differ (anvil mines a block per transaction), so
 * waits are "past the deadline" on both, never absolute heights. */

enum { D_REQ, D_W1, D_W2, D_CH, D_OP, D_N };
enum { DA_TRANSFER, DA_STAKE, DA_REGISTER, DA_POST, DA_CLAIM, DA_COMMIT, DA_REVEAL, DA_CHALLENGE, DA_VERDICT, DA_FINALIZE,
       DA_EXPIRE, DA_WAIT };
typedef struct d_act {
    int op, who, task, run, arg; /* arg: amount, blocks to wait, mode (post), step (challenge) */
} d_act;
#define D_TASKS 4
#define D_STEPS 8
#define D_WINDOW 3
static const d_act d_script[] = {
    {DA_TRANSFER, D_REQ, 0, 0, 500}, /* to the challenger */
    {DA_STAKE, D_W1, 0, 0, 3000},     {DA_STAKE, D_W2, 0, 0, 3000},
    {DA_REGISTER, D_W1, 0, 0, 0},     {DA_REGISTER, D_W2, 0, 0, 0},
    /* task 0: optimistic, paid */
    {DA_POST, D_REQ, 0, 0, 2},        {DA_CLAIM, D_W1, 0, 0, 0},      {DA_COMMIT, D_W1, 0, 0, 0},
    {DA_REVEAL, D_W1, 0, 0, 0},       {DA_WAIT, 0, 0, 0, 2 * D_WINDOW + 2}, {DA_FINALIZE, D_CH, 0, 0, 0},
    /* task 1: optimistic, the worker's run diverges at step 4: challenged, upheld, slashed */
    {DA_POST, D_REQ, 1, 0, 2},        {DA_CLAIM, D_W2, 1, 0, 0},      {DA_COMMIT, D_W2, 1, 1, 0},
    {DA_REVEAL, D_W2, 1, 1, 0},       {DA_CHALLENGE, D_CH, 1, 1, 4},  {DA_VERDICT, D_OP, 1, 0, 4},
    {DA_WAIT, 0, 0, 0, 2 * D_WINDOW + 2}, {DA_FINALIZE, D_REQ, 1, 0, 0},
    /* task 2: nobody claims it: expired, the escrow back */
    {DA_POST, D_REQ, 2, 0, 2},        {DA_WAIT, 0, 0, 0, 22},         {DA_EXPIRE, D_REQ, 2, 0, 0},
    /* task 3: replicated x2, both honest */
    {DA_POST, D_REQ, 3, 0, 1},        {DA_CLAIM, D_W1, 3, 0, 0},      {DA_CLAIM, D_W2, 3, 0, 0},
    {DA_COMMIT, D_W1, 3, 0, 0},       {DA_COMMIT, D_W2, 3, 0, 0},     {DA_REVEAL, D_W1, 3, 0, 0},
    {DA_REVEAL, D_W2, 3, 0, 0},       {DA_WAIT, 0, 0, 0, 2 * D_WINDOW + 2}, {DA_FINALIZE, D_W1, 3, 0, 0},
};
#define D_N_ACTS (sizeof d_script / sizeof d_script[0])

typedef struct d_outcome {
    uint64_t balance[D_N], stake[D_N], locked[D_N], burned;
    uint8_t task_status[D_TASKS], slot_status[D_TASKS][2], ch_status;
} d_outcome;

static ledger_task_params d_params(int mode) {
    ledger_task_params p;
    memset(&p, 0, sizeof p);
    p.kind = LEDGER_KIND_TRAIN;
    p.mode = (uint8_t)mode;
    p.replicas = mode == LEDGER_MODE_REPLICATED ? 2 : 1;
    p.reward = REWARD;
    p.worker_stake = WS_STAKE;
    p.min_bond = 50;
    p.steps = D_STEPS;
    p.claim_blocks = 10;
    p.work_blocks = 10;
    p.window_blocks = D_WINDOW;
    memset(p.spec, 0x5e, 32);
    return p;
}

/* run 0 honest, run 1 diverging from step 4 (its own consistent root) */
static void d_runs(run r[2]) {
    r[0] = make_run(D_STEPS);
    r[1] = diverge(&r[0], 4);
}

/* ---- the embedded ledger ---- */

typedef struct d_native {
    ledger_state *s;
    ledger_genesis g;
    ledger_genesis_account acc[D_N];
    ledger_key k[D_N];
    uint8_t task[D_TASKS][32], challenge[32];
    uint64_t h;
} d_native;

static void dn_block(d_native *n) {
    char err[PLOW_ERR_LEN];
    uint8_t root[32];
    if (n->h) ledger_end_block(n->s, root);
    n->h++;
    CHECKF(ledger_begin_block(n->s, n->h, n->g.time_ms + n->h * 1000, err) == 0, "%s", err);
}

static ledger_tx *dn_tx(d_native *n, int type, int who) {
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    tx->type = (uint8_t)type;
    memcpy(tx->sender, n->k[who].pk, 32);
    ledger_account a;
    tx->nonce = ledger_get_account(n->s, n->k[who].pk, &a) ? a.nonce : 0;
    tx->fee = 0;
    return tx;
}

/* One transaction in a block of its own (as anvil mines them). */
static void dn_send(d_native *n, ledger_tx *tx, int who, const char *what) {
    char err[PLOW_ERR_LEN];
    dn_block(n);
    ledger_tx_sign(tx, &n->k[who], n->g.chain_id);
    ledger_tx_result r = ledger_apply_tx(n->s, tx, false, err);
    CHECKF(r == LEDGER_TX_OK, "ledger: %s: %s", what, err);
    free(tx);
}

static int dn_slot(d_native *n, int t, int who) {
    ledger_task lt;
    if (!ledger_get_task(n->s, n->task[t], &lt)) return 0;
    for (int i = 0; i < lt.p.replicas; i++)
        if (lt.slots[i].status != LEDGER_SLOT_EMPTY && memcmp(lt.slots[i].worker, n->k[who].pk, 32) == 0) return i;
    return 0;
}

static ledger_tx *dn_reveal(d_native *n, int who, int t, const run *r) {
    ledger_tx *tx = dn_tx(n, LEDGER_TX_REVEAL, who);
    evm_reveal_fill(tx, n->task[t], &r->v, r->salt, r->leaves, r->count);
    return tx;
}

static void dn_evidence(const run *r, uint64_t j, ledger_evidence *ev) {
    char err[PLOW_ERR_LEN];
    memset(ev, 0, sizeof *ev);
    memcpy(ev->leaf_prev, r->leaves + (j - 1) * 32, 32);
    memcpy(ev->leaf, r->leaves + j * 32, 32);
    CHECK(merkle_prove(r->leaves, r->count, j - 1, &ev->proof_prev, err) == 0);
    CHECK(merkle_prove(r->leaves, r->count, j, &ev->proof, err) == 0);
}

static void d_run_native(const evm_account start[D_N], const run runs[2], d_outcome *o) {
    d_native *n = plow_calloc(1, sizeof *n);
    snprintf(n->g.chain, sizeof n->g.chain, "plow-differential");
    n->g.time_ms = 1000000;
    n->g.params = (ledger_params){.unbond_blocks = 5, .verdict_blocks = 5, .min_fee = 0,
                                  .slash_challenger_pct = 50, .bond_accused_pct = 50};
    for (int i = 0; i < D_N; i++) {
        uint8_t seed[32];
        memset(seed, 0xd0 + i, 32);
        ledger_key_from_seed(&n->k[i], seed);
        memcpy(n->acc[i].pk, n->k[i].pk, 32);
        n->acc[i].balance = start[i].balance;
        n->acc[i].stake = start[i].stake;
        n->g.supply += start[i].balance + start[i].stake;
    }
    memcpy(n->g.operator_pk, n->k[D_OP].pk, 32);
    n->g.n_accounts = D_N;
    n->g.accounts = n->acc;
    plow_sha256_once("plow differential", 17, n->g.chain_id);
    n->s = ledger_state_new(&n->g);
    for (size_t i = 0; i < D_N_ACTS; i++) {
        const d_act *a = &d_script[i];
        const run *r = &runs[a->run];
        ledger_tx *tx = NULL;
        switch (a->op) {
        case DA_TRANSFER:
            tx = dn_tx(n, LEDGER_TX_TRANSFER, a->who);
            memcpy(tx->u.transfer.to, n->k[D_CH].pk, 32);
            tx->u.transfer.amount = (uint64_t)a->arg;
            break;
        case DA_STAKE:
            tx = dn_tx(n, LEDGER_TX_STAKE, a->who);
            tx->u.stake.amount = (uint64_t)a->arg;
            break;
        case DA_REGISTER:
            tx = dn_tx(n, LEDGER_TX_REGISTER, a->who);
            tx->u.reg.kind = LEDGER_AGENT;
            snprintf(tx->u.reg.name, sizeof tx->u.reg.name, "w%d", a->who);
            snprintf(tx->u.reg.caps, sizeof tx->u.reg.caps, "{}");
            break;
        case DA_POST: {
            tx = dn_tx(n, LEDGER_TX_POST_TASK, a->who);
            tx->u.post = d_params(a->arg);
            ledger_tx_sign(tx, &n->k[a->who], n->g.chain_id);
            ledger_tx_hash(tx, n->task[a->task]); /* a task's id: its post's hash */
            break;
        }
        case DA_CLAIM:
        case DA_FINALIZE:
        case DA_EXPIRE:
            tx = dn_tx(n, a->op == DA_CLAIM ? LEDGER_TX_CLAIM : a->op == DA_FINALIZE ? LEDGER_TX_FINALIZE : LEDGER_TX_EXPIRE,
                       a->who);
            memcpy(tx->u.ref.task, n->task[a->task], 32);
            break;
        case DA_COMMIT: {
            ledger_tx *rv = dn_reveal(n, a->who, a->task, r);
            tx = dn_tx(n, LEDGER_TX_COMMIT, a->who);
            memcpy(tx->u.commit.task, n->task[a->task], 32);
            ledger_commitment(rv, (uint32_t)dn_slot(n, a->task, a->who), tx->u.commit.trace_root);
            tx->u.commit.n = r->v.n;
            free(rv);
            break;
        }
        case DA_REVEAL: tx = dn_reveal(n, a->who, a->task, r); break;
        case DA_CHALLENGE: {
            tx = dn_tx(n, LEDGER_TX_CHALLENGE, a->who);
            memcpy(tx->u.challenge.task, n->task[a->task], 32);
            memcpy(tx->u.challenge.accused, n->k[D_W2].pk, 32);
            tx->u.challenge.step = (uint64_t)a->arg;
            tx->u.challenge.bond = 100;
            memset(tx->u.challenge.state_blob, 0xb1, 32);
            dn_evidence(r, (uint64_t)a->arg, &tx->u.challenge.ev);
            ledger_tx_sign(tx, &n->k[a->who], n->g.chain_id);
            ledger_tx_hash(tx, n->challenge);
            break;
        }
        case DA_VERDICT: /* the referee (the operator here) recomputed the honest leaf j */
            tx = dn_tx(n, LEDGER_TX_VERDICT, a->who);
            memcpy(tx->u.verdict.challenge, n->challenge, 32);
            memcpy(tx->u.verdict.computed, runs[0].leaves + (size_t)a->arg * 32, 32);
            tx->u.verdict.prev_ok = 1;
            break;
        case DA_WAIT:
            for (int b = 0; b < a->arg; b++) dn_block(n);
            continue;
        }
        char what[32];
        snprintf(what, sizeof what, "action %zu", i);
        dn_send(n, tx, a->who, what);
    }
    uint8_t root[32];
    ledger_end_block(n->s, root);
    memset(o, 0, sizeof *o);
    for (int i = 0; i < D_N; i++) {
        ledger_account ac;
        memset(&ac, 0, sizeof ac);
        ledger_get_account(n->s, n->k[i].pk, &ac);
        o->balance[i] = ac.balance;
        o->stake[i] = ac.stake;
        o->locked[i] = ac.locked;
    }
    o->burned = ledger_state_burned(n->s);
    for (int t = 0; t < D_TASKS; t++) {
        ledger_task lt;
        CHECK(ledger_get_task(n->s, n->task[t], &lt));
        o->task_status[t] = lt.status;
        for (int k = 0; k < lt.p.replicas && k < 2; k++) o->slot_status[t][k] = lt.slots[k].status;
    }
    ledger_challenge c;
    CHECK(ledger_get_challenge(n->s, n->challenge, &c));
    o->ch_status = c.status;
    ledger_state_free(n->s);
    free(n);
}

/* ---- the same on anvil ---- */

static void d_run_evm(eth_signer *sg[D_N], const run runs[2], uint64_t burned0, d_outcome *o) {
    char err[PLOW_ERR_LEN];
    evm_params p[D_TASKS];
    uint8_t cid[32] = {0};
    evm_dispute dis;
    memset(&dis, 0, sizeof dis);
    int slot_of[D_TASKS][D_N];
    memset(slot_of, 0, sizeof slot_of);
    int next_slot[D_TASKS] = {0}, claimer[D_TASKS][2] = {{0}};
    bool revealed[D_TASKS][2] = {{false}};
    int run_of[D_TASKS][2] = {{0}};
    for (size_t i = 0; i < D_N_ACTS; i++) {
        const d_act *a = &d_script[i];
        const run *r = &runs[a->run];
        eth_signer *s = sg[a->who];
        int rc = 0;
        switch (a->op) {
        case DA_TRANSFER: rc = evm_transfer(s, &W.d, sg[D_CH]->key.addr, (uint64_t)a->arg, NULL, err); break;
        case DA_STAKE: rc = evm_account_op(s, &W.d, "stake", (uint64_t)a->arg, NULL, err); break;
        case DA_REGISTER: rc = evm_register(s, &W.d, 2, "data:application/json,{}", NULL, err); break;
        case DA_POST: {
            ledger_task_params lp = d_params(a->arg);
            evm_params *e = &p[a->task];
            memset(e, 0, sizeof *e);
            memcpy(e->requester, s->key.addr, 20);
            e->kind = lp.kind, e->mode = lp.mode, e->replicas = lp.replicas, e->reward = lp.reward;
            e->worker_stake = lp.worker_stake, e->min_bond = lp.min_bond, e->steps = lp.steps;
            e->claim_blocks = lp.claim_blocks, e->work_blocks = lp.work_blocks, e->window_blocks = lp.window_blocks;
            memcpy(e->spec, lp.spec, 32);
            randombytes_buf(e->salt, 32);
            rc = evm_post(s, &W.d, e, NULL, err);
            break;
        }
        case DA_CLAIM:
            claimer[a->task][next_slot[a->task]] = a->who;
            slot_of[a->task][a->who] = next_slot[a->task]++;
            rc = evm_claim(s, &W.d, &p[a->task], NULL, err);
            break;
        case DA_COMMIT: {
            uint8_t c[32];
            int sl = slot_of[a->task][a->who];
            run_of[a->task][sl] = a->run;
            commitment_of(&p[a->task], (uint8_t)sl, s, r, c);
            rc = evm_commit(s, &W.d, &p[a->task], (uint8_t)sl, c, NULL, err);
            break;
        }
        case DA_REVEAL: {
            int sl = slot_of[a->task][a->who];
            revealed[a->task][sl] = true;
            rc = evm_reveal(s, &W.d, &p[a->task], (uint8_t)sl, &r->v, r->salt, r->leaves, r->count, NULL, err);
            break;
        }
        case DA_CHALLENGE: {
            merkle_proof pp, pj;
            evm_side sd = side_of(sg[D_W2], r, (uint64_t)a->arg, &pp, &pj);
            rc = evm_challenge(s, &W.d, &p[a->task], 0, &sd, NULL, 0, (uint64_t)a->arg, (uint8_t[32]){0xb1}, 100, &dis,
                               cid, NULL, err);
            break;
        }
        case DA_VERDICT:
            rc = evm_verdict(s, &W.d, &W.referee, cid, &dis, 1, runs[0].leaves + (size_t)a->arg * 32, NULL, 0, NULL, err);
            break;
        case DA_FINALIZE:
        case DA_EXPIRE: {
            evm_seal seals[2];
            memset(seals, 0, sizeof seals);
            for (int k = 0; k < next_slot[a->task]; k++)
                seals[k] = seal_of(&p[a->task], (uint8_t)k, sg[claimer[a->task][k]], &runs[run_of[a->task][k]],
                                   revealed[a->task][k]);
            rc = a->op == DA_FINALIZE ? evm_finalize(s, &W.d, &p[a->task], seals, NULL, err)
                                      : evm_expire(s, &W.d, &p[a->task], seals, NULL, err);
            break;
        }
        case DA_WAIT: rc = eth_mine(W.rpc, (uint64_t)a->arg, err); break;
        }
        CHECKF(rc == 0, "anvil: action %zu: %s", i, err);
    }
    memset(o, 0, sizeof *o);
    for (int i = 0; i < D_N; i++) {
        evm_account ac = acct_of(sg[i]);
        o->balance[i] = ac.balance;
        o->stake[i] = ac.stake;
        o->locked[i] = ac.locked;
    }
    o->burned = burned_now() - burned0;
    for (int t = 0; t < D_TASKS; t++) {
        evm_task_state st = task_state(&p[t]);
        o->task_status[t] = st.status;
        for (int k = 0; k < p[t].replicas && k < 2; k++) o->slot_status[t][k] = evm_ledger_slot_status(st.slot[k]);
    }
    uint8_t cs = 0;
    CHECK(evm_get_challenge_status(W.rpc, &W.d, cid, &cs, err) == 0);
    o->ch_status = cs;
}

static void test_anvil_differential(void) {
    world *w = world_get();
    if (!w) return;
    char err[PLOW_ERR_LEN];
    forget_nonces();
    /* fresh actors for the requester and the workers (anvil keys 7, 8, 9), the world's challenger and deployer */
    eth_signer fresh[3];
    eth_signer *sg[D_N] = {&fresh[0], &fresh[1], &fresh[2], &w->ch, &w->dep};
    for (int i = 0; i < 3; i++) {
        eth_key k;
        CHECK(eth_key_from_secret(&k, w->anvil.keys[7 + i], err) == 0 && eth_signer_init(&fresh[i], w->rpc, &k, err) == 0);
        eth_key_wipe(&k);
        OK(evm_token_mint(&w->dep, &w->d, fresh[i].key.addr, 20000, NULL, e_));
        OK(evm_token_approve(&fresh[i], &w->d, 20000, NULL, e_));
        OK(evm_account_op(&fresh[i], &w->d, "deposit", 20000, NULL, e_));
    }
    evm_account start[D_N];
    for (int i = 0; i < D_N; i++) start[i] = acct_of(sg[i]);
    for (int i = 0; i < D_N; i++) CHECKF(start[i].locked == 0 && start[i].unbonding == 0, "actor %d holds locked stake", i);
    uint64_t burned0 = burned_now();
    run runs[2];
    d_runs(runs);
    d_outcome on, oe;
    d_run_native(start, runs, &on);
    d_run_evm(sg, runs, burned0, &oe);
    static const char *names[D_N] = {"requester", "worker 1", "worker 2", "challenger", "operator"};
    for (int i = 0; i < D_N; i++)
        CHECKF(on.balance[i] == oe.balance[i] && on.stake[i] == oe.stake[i] && on.locked[i] == oe.locked[i],
               "%s: ledger %llu/%llu/%llu, chain %llu/%llu/%llu (balance/stake/locked)", names[i],
               (unsigned long long)on.balance[i], (unsigned long long)on.stake[i], (unsigned long long)on.locked[i],
               (unsigned long long)oe.balance[i], (unsigned long long)oe.stake[i], (unsigned long long)oe.locked[i]);
    CHECKF(on.burned == oe.burned, "burned: ledger %llu, chain %llu", (unsigned long long)on.burned,
           (unsigned long long)oe.burned);
    for (int t = 0; t < D_TASKS; t++) {
        CHECKF(on.task_status[t] == oe.task_status[t], "task %d: ledger %s, chain %s", t,
               ledger_task_status_name(on.task_status[t]), ledger_task_status_name(oe.task_status[t]));
        for (int k = 0; k < 2; k++)
            CHECKF(on.slot_status[t][k] == oe.slot_status[t][k], "task %d slot %d: ledger %s, chain %s", t, k,
                   ledger_slot_status_name(on.slot_status[t][k]), ledger_slot_status_name(oe.slot_status[t][k]));
    }
    CHECKF(on.ch_status == oe.ch_status, "challenge: ledger %u, chain %u", on.ch_status, oe.ch_status);
    /* and the script did what it says (not two backends agreeing on nothing) */
    CHECK(on.task_status[0] == LEDGER_TASK_FINALIZED && on.slot_status[0][0] == LEDGER_SLOT_PAID);
    CHECK(on.slot_status[1][0] == LEDGER_SLOT_SLASHED && on.ch_status == LEDGER_CH_UPHELD);
    CHECK(on.task_status[2] == LEDGER_TASK_EXPIRED);
    CHECK(on.slot_status[3][0] == LEDGER_SLOT_PAID && on.slot_status[3][1] == LEDGER_SLOT_PAID);
    CHECK(on.burned > 0 && on.balance[D_CH] > start[D_CH].balance + 500);
    for (int i = 0; i < 3; i++) eth_signer_release(&fresh[i]);
    free(runs[0].leaves);
    free(runs[1].leaves);
}

const test_case evm_tests[] = {
    {"evm_keccak", test_keccak},
    {"evm_addresses", test_addresses},
    {"evm_sign_recover", test_sign_recover},
    {"evm_tx_known_answer", test_tx_known_answer},
    {"evm_rlp", test_rlp},
    {"evm_keystore_vectors", test_keystore_vectors},
    {"evm_keystore_roundtrip", test_keystore_roundtrip},
    {"evm_abi", test_abi},
    {"evm_cast_keys_and_txs", test_cast_keys_and_txs},
    {"evm_cast_hashes_and_calldata", test_cast_hashes_and_calldata},
    {"evm_cast_keystore", test_cast_keystore},
    {"evm_anvil_encodings", test_anvil_encodings},
    {"evm_anvil_happy", test_anvil_happy},
    {"evm_anvil_copied_commitment", test_anvil_copied_commitment},
    {"evm_anvil_reveal_rules", test_anvil_reveal_rules},
    {"evm_anvil_challenges", test_anvil_challenges},
    {"evm_anvil_replicated_dispute", test_anvil_replicated_dispute},
    {"evm_anvil_da_void_expire", test_anvil_da_void_expire},
    {"evm_anvil_leaf_blob", test_anvil_leaf_blob},
    {"evm_anvil_merkle_differential", test_anvil_merkle_differential},
    {"evm_anvil_agent_backend", test_anvil_agent_backend},
    {"evm_anvil_unrunnable", test_anvil_unrunnable},
    {"evm_anvil_unrunnable_claim", test_anvil_unrunnable_claim},
    {"evm_anvil_referee_unrunnable", test_anvil_referee_unrunnable},
    {"evm_anvil_chain_index", test_anvil_chain_index},
    {"evm_anvil_differential", test_anvil_differential},
    {NULL, NULL},
};
