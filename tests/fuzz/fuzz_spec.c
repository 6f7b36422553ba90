/*
 * fuzz_spec.c — libFuzzer target for job_spec_parse, the parser of the spec
 * blob every task names (a requester writes it; every worker, verifier,
 * labeler and the node's referee parses it). Any input may be refused; none
 * may crash or allocate past -malloc_limit_mb. An accepted spec must survive
 * a round trip: its canonical form (job_spec_write) parses again to the
 * same canonical form, and its ledger step count is in range.
 *
 * Build and run: make fuzz (tests/fuzz/corpus/spec seeds it).
 */
#include "../../src/base/plow.h"

#include "../../src/job/job.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[PLOW_ERR_LEN];
    job_spec *s = plow_calloc(1, sizeof *s), *t = plow_calloc(1, sizeof *t);
    if (job_spec_parse(s, data, size, err) != 0) {
        FUZZ_CHECK(err[0]);
        goto out;
    }
    plow_buf a = {0}, b = {0};
    job_spec_write(s, &a);
    FUZZ_CHECK(a.len <= JOB_SPEC_MAX);
    FUZZ_CHECK(job_spec_parse(t, a.data, a.len, err) == 0);
    job_spec_write(t, &b);
    FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    (void)job_spec_ledger_steps(s);
    plow_buf_release(&a);
    plow_buf_release(&b);
out:
    free(s);
    free(t);
    return 0;
}
