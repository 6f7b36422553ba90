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
    {NULL, NULL},
};
