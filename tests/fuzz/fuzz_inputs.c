/*
 * fuzz_inputs.c — libFuzzer target for the other inputs a hostile requester
 * or worker hands the agents and the node, by the first byte:
 *   0  an outputs manifest (job_manifest_parse: a worker's outputs.json)
 *   1  label items (label_items_parse: a label task's items blob)
 *   2  an inference receipt (receipt_parse: a worker's receipt blob)
 *   3  a tokenizer (tokenizer_parse: every training task's tokenizer.bin)
 * Any input may be refused; none may crash or allocate past
 * -malloc_limit_mb. What is accepted is used the way its reader uses it.
 *
 * Build and run: make fuzz.
 */
#include "../../src/base/plow.h"

#include "../../src/data/tokenizer.h"
#include "../../src/job/job.h"
#include "../../src/label/label.h"
#include "../../src/proof/receipt.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char err[PLOW_ERR_LEN];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: {
        job_manifest m;
        if (job_manifest_parse(&m, p, n, err) == 0) {
            for (size_t i = 0; i < m.n; i++) FUZZ_CHECK(job_manifest_find(&m, m.files[i].path) != NULL);
            job_manifest_release(&m);
        }
        break;
    }
    case 1: {
        label_items it;
        if (label_items_parse(&it, p, n, "items", err) == 0) {
            FUZZ_CHECK(it.n >= 1 && it.n <= LABEL_ITEMS_MAX);
            for (size_t i = 0; i < it.n; i++) FUZZ_CHECK(strlen(it.text[i]) >= 1);
            plow_buf b = {0};
            label_items_write(&it, &b);
            label_items it2;
            FUZZ_CHECK(label_items_parse(&it2, b.data, b.len, "items", err) == 0 && it2.n == it.n);
            label_items_release(&it2);
            plow_buf_release(&b);
            label_items_release(&it);
        }
        break;
    }
    case 2: {
        receipt r;
        if (receipt_parse(&r, (const char *)p, n, err) == 0) receipt_release(&r);
        break;
    }
    case 3: {
        tokenizer *t = NULL;
        if (tokenizer_parse(&t, p, n, err) == 0) {
            int32_t *ids = NULL;
            size_t k = 0;
            const char *text = "ROMEO: a fuzzed tokenizer";
            if (tokenizer_encode(t, (const uint8_t *)text, strlen(text), &ids, &k, err) == 0) {
                uint8_t *out = NULL;
                size_t on = 0;
                if (tokenizer_decode(t, ids, k, &out, &on, err) == 0) {
                    FUZZ_CHECK(on == strlen(text) && memcmp(out, text, on) == 0);
                    free(out);
                }
                free(ids);
            }
            tokenizer_free(t);
        } else {
            FUZZ_CHECK(t == NULL);
        }
        break;
    }
    }
    return 0;
}
