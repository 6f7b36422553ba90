/*
 * fuzz_model.c — libFuzzer target for the model loaders a task's base model
 * goes through: modelio_parse_model (the weights, in memory) and
 * modelio_peek_config (the config from the header alone, before anything
 * the size of the weights is allocated: the cost estimate, src/job cost.c).
 * A 300-byte header that promises a terabyte model must be refused, not
 * allocated: run with -malloc_limit_mb, a promise believed is a finding.
 *
 * Input: first byte 'R': the rest is the whole file. Otherwise the rest is
 * a safetensors header (JSON) and the file is its 8-byte length, the header
 * and 4096 x (first byte % 17) zero bytes of tensor data, so the fuzzer
 * works on the header's promises (metadata, shapes, offsets).
 *
 * Build and run: make fuzz (tests/fuzz/corpus/model seeds it).
 */
#include "../../src/base/plow.h"

#include <unistd.h>

#include "../../src/model/model.h"
#include "../../src/model/modelio.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t *file;
    size_t n;
    if (data[0] == 'R') {
        n = size - 1;
        file = plow_alloc(n ? n : 1);
        memcpy(file, data + 1, n);
    } else {
        size_t hl = size - 1, pad = 4096 * (size_t)(data[0] % 17);
        n = 8 + hl + pad;
        file = plow_calloc(1, n);
        plow_put_u64(file, hl); /* little-endian, as safetensors has it */
        memcpy(file + 8, data + 1, hl);
    }
    char err[PLOW_ERR_LEN];
    model *m = NULL;
    if (modelio_parse_model(&m, file, n, err) == 0) {
        FUZZ_CHECK(m != NULL && model_config_check(&m->cfg, err) == 0);
        model_free(m);
    } else {
        FUZZ_CHECK(m == NULL && err[0]);
    }
    if (!g_path[0]) snprintf(g_path, sizeof g_path, "/tmp/plow_fuzz_model.%ld.safetensors", (long)getpid());
    if (plow_write_file(g_path, file, n, err) == 0) {
        model_config c;
        uint64_t bytes = 0;
        if (modelio_peek_config(g_path, &c, &bytes, err) == 0)
            FUZZ_CHECK(bytes == n && 8 + 4 * model_config_params(&c) <= n);
    }
    free(file);
    return 0;
}
