/*
 * fuzz_gguf.c — libFuzzer target for gguf_parse.
 *
 *   clang -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       src/base/plow.c src/model/gguf.c tests/fuzz/fuzz_gguf.c \
 *       -o fuzz_gguf -lcrypto && ./fuzz_gguf -max_total_time=30 CORPUS_DIR
 *
 * Any input may be rejected; none may crash. An accepted file is walked
 * through every accessor, reading every byte they point at, so that a
 * pointer or length the validator let through wrongly shows up under ASan.
 */
#include "../../src/base/plow.h"

#include "../../src/model/gguf.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[PLOW_ERR_LEN];
    gguf_file *f = NULL;
    if (gguf_parse(data, size, &f, err) != 0) {
        FUZZ_CHECK(f == NULL && err[0]);
        return 0;
    }
    unsigned sum = 0;
    FUZZ_CHECK(gguf_version(f) == 2 || gguf_version(f) == 3);
    for (size_t i = 0; i < gguf_kv_count(f); i++) {
        const char *key = gguf_kv_key(f, i);
        FUZZ_CHECK(key[0] && gguf_kv_find(f, key) == (int64_t)i);
        const char *s;
        size_t len, n;
        gguf_value_type et;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        float f32;
        bool b;
        if (gguf_get_str(f, key, &s, &len, err) == 0)
            for (size_t k = 0; k < len; k++) sum += (unsigned char)s[k];
        if (gguf_get_u32(f, key, &u32, err) == 0) sum += u32;
        if (gguf_get_i32(f, key, &i32, err) == 0) sum += (unsigned)i32;
        if (gguf_get_u64(f, key, &u64, err) == 0) sum += (unsigned)u64;
        if (gguf_get_f32(f, key, &f32, err) == 0) sum += f32 == f32;
        if (gguf_get_bool(f, key, &b, err) == 0) sum += b;
        if (gguf_get_arr_info(f, key, &et, &n, err) == 0) {
            if (et == GGUF_VALUE_STRING) {
                for (size_t j = 0; j < n; j++) {
                    FUZZ_CHECK(gguf_get_arr_str(f, key, j, &s, &len, err) == 0);
                    for (size_t k = 0; k < len; k++) sum += (unsigned char)s[k];
                }
            } else if (et == GGUF_VALUE_INT32 || et == GGUF_VALUE_FLOAT32) {
                int32_t *v = plow_calloc(n, sizeof *v);
                FUZZ_CHECK(et == GGUF_VALUE_INT32 ? gguf_get_arr_i32(f, key, v, n, err) == 0
                                                  : gguf_get_arr_f32(f, key, (float *)v, n, err) == 0);
                for (size_t j = 0; j < n; j++) sum += (unsigned)v[j];
                free(v);
            }
        }
    }
    for (size_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_get(f, i);
        FUZZ_CHECK(gguf_tensor_find(f, t->name) == t);
        FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS && t->offset % gguf_alignment(f) == 0);
        FUZZ_CHECK(gguf_tensor_type_name(t->type) != NULL);
        for (size_t k = 0; k < t->nbytes; k++) sum += t->data[k];
    }
    sink = sum;
    gguf_free(f);
    return 0;
}
