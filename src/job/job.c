/* job.c — (being written) */
#include "../base/plow.h"

#include "job.h"

int job_run(const job_spec *spec, const job_blobs *b, const char *workdir, const char *cheat,
            job_progress_fn progress, void *parg, job_output *out, char err[PLOW_ERR_LEN]) {
    (void)spec, (void)b, (void)workdir, (void)cheat, (void)progress, (void)parg, (void)out;
    return plow_error(err, "job_run: not implemented yet");
}
int job_fetch_outputs(const job_blobs *b, const uint8_t manifest[32], const char *dir, char err[PLOW_ERR_LEN]) {
    (void)b, (void)manifest, (void)dir;
    return plow_error(err, "not implemented yet");
}
int job_verify(const job_spec *spec, const job_blobs *b, const ledger_slot *slot, const char *workdir, int samples,
               uint64_t seed, job_check *out, char err[PLOW_ERR_LEN]) {
    (void)spec, (void)b, (void)slot, (void)workdir, (void)samples, (void)seed, (void)out;
    return plow_error(err, "job_verify: not implemented yet");
}
int job_diverge(const job_spec *spec, const job_blobs *b, const ledger_slot *a, const ledger_slot *bslot,
                const char *workdir, uint64_t *step, ledger_evidence *ev_a, ledger_evidence *ev_b,
                uint8_t state_blob[32], char err[PLOW_ERR_LEN]) {
    (void)spec, (void)b, (void)a, (void)bslot, (void)workdir, (void)step, (void)ev_a, (void)ev_b, (void)state_blob;
    return plow_error(err, "job_diverge: not implemented yet");
}
int job_referee(const job_spec *spec, const job_blobs *b, const ledger_challenge *c, const char *workdir,
                uint8_t computed[32], bool *prev_ok, char err[PLOW_ERR_LEN]) {
    (void)spec, (void)b, (void)c, (void)workdir, (void)computed, (void)prev_ok;
    return plow_error(err, "job_referee: not implemented yet");
}
