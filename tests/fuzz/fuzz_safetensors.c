/*
 * fuzz_safetensors.c — libFuzzer target for st_parse.
 *
 *   clang -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       src/base/plow.c src/model/safetensors.c tests/fuzz/fuzz_safetensors.c \
 *       -o fuzz_st -lcjson -lcrypto && ./fuzz_st -max_total_time=30 CORPUS_DIR
 *
 * Any input may be rejected; none may crash. An accepted file must also
 * survive a round trip: writing its tensors and metadata back out and
 * parsing the result gives the same names, dtypes, shapes and bytes.
 */
#include "../../src/base/plow.h"

#include "../../src/model/safetensors.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[PLOW_ERR_LEN];
    st_file *f = NULL;
    if (st_parse(data, size, &f, err) != 0) {
        FUZZ_CHECK(f == NULL && err[0]);
        return 0;
    }
    st_writer *w = st_writer_new();
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_get(f, i);
        FUZZ_CHECK(st_find(f, t->name) == t);
        st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    for (size_t i = 0; i < st_meta_count(f); i++)
        st_writer_meta(w, st_meta_key(f, i), st_meta_value(f, i));
    plow_buf b = {0};
    FUZZ_CHECK(st_writer_serialize(w, &b, err) == 0);
    st_file *g = NULL;
    FUZZ_CHECK(st_parse(b.data, b.len, &g, err) == 0);
    FUZZ_CHECK(st_count(g) == st_count(f) && st_meta_count(g) == st_meta_count(f));
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *a = st_get(f, i), *c = st_get(g, i);
        FUZZ_CHECK(strcmp(a->name, c->name) == 0 && a->dtype == c->dtype && a->ndim == c->ndim);
        FUZZ_CHECK(memcmp(a->shape, c->shape, sizeof a->shape) == 0 && a->nbytes == c->nbytes);
        FUZZ_CHECK(a->nbytes == 0 || memcmp(a->data, c->data, a->nbytes) == 0);
    }
    for (size_t i = 0; i < st_meta_count(f); i++) {
        FUZZ_CHECK(strcmp(st_meta_key(f, i), st_meta_key(g, i)) == 0);
        FUZZ_CHECK(strcmp(st_meta_value(f, i), st_meta_value(g, i)) == 0);
    }
    st_free(g);
    plow_buf_release(&b);
    st_writer_free(w);
    st_free(f);
    return 0;
}
