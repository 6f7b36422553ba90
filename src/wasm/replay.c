/*
 * replay.c — `plow replay RUN_DIR --step J [--state FILE]` (in plow.wasm):
 * re-executes step J of a committed run, from state J-1, and says whether
 * the state it reaches hashes to the committed leaf J of the run's trace.
 * State J-1 comes from FILE (what a worker sends when challenged, or what a
 * node serves) or, without --state, from the run's nearest checkpoint at or
 * before J-1 (stepping forward from it, each state checked against its leaf).
 * What a browser runs to check a disputed step itself (wasm/plow.mjs
 * replayStep). Exit 0: the leaf matches; 1: it does not (or state J-1 is not
 * the committed one); 2: bad usage or unusable files.
 */
#include "../base/plow.h"

#include <getopt.h>
#include <inttypes.h>

#include "../cli/cli.h"
#include "../proof/run.h"
#include "../proof/trace.h"
#include "../tensor/tensor.h"

static const char usage[] =
    "usage: plow replay RUN_DIR --step J [--state FILE]\n"
    "\n"
    "Re-executes step J of a run committed with 'plow train --commit' from state\n"
    "J-1 and compares the state it reaches with the committed leaf J of the run's\n"
    "trace. Exits 0 if it matches, 1 if not, 2 on bad usage or unusable files.\n"
    "\n"
    "  --step J        the step to re-execute (1..steps)\n"
    "  --state FILE    state J-1 (a training state file); default: the run's nearest\n"
    "                  checkpoint at or before J-1, stepped forward\n"
    "  --simd PATH     scalar, simd128 or auto\n";

static void hex(const uint8_t h[PLOW_HASH_LEN], char out[2 * PLOW_HASH_LEN + 1]) { plow_hex(h, PLOW_HASH_LEN, out); }

int cmd_replay(int argc, char **argv) {
    static const struct option opts[] = {
        {"step", required_argument, NULL, 's'}, {"state", required_argument, NULL, 'f'},
        {"simd", required_argument, NULL, 'm'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *state_file = NULL, *simd = NULL;
    long step = -1;
    char err[PLOW_ERR_LEN];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cli_int("--step", optarg, 1, 1L << 30, &step, err)) return cli_usage_error("replay", "%s", err);
            break;
        case 'f': state_file = optarg; break;
        case 'm': simd = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage_error("replay", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("replay", "expected one run directory");
    if (step < 1) return cli_usage_error("replay", "--step J is required");
    const char *dir = argv[optind];
    if (cli_init_engine(simd, 1, err)) return cli_fail("%s", err);

    int rc = 2;
    proof_replay *r = NULL;
    trace *t = NULL;
    uint8_t *buf = NULL;
    char *tp = NULL;
    uint8_t h[PLOW_HASH_LEN];
    char hx[2 * PLOW_HASH_LEN + 1], lx[2 * PLOW_HASH_LEN + 1];
    if (proof_replay_open(&r, dir, err)) {
        cli_fail("cannot replay '%s': %s", dir, err);
        goto out;
    }
    tp = plow_strdup(dir);
    size_t dl = strlen(tp);
    tp = plow_realloc(tp, dl + sizeof "/trace.bin");
    memcpy(tp + dl, "/trace.bin", sizeof "/trace.bin");
    if (trace_load(tp, &t, err)) {
        cli_fail("%s", err);
        goto out;
    }
    uint64_t j = (uint64_t)step;
    if (j > trace_steps(t)) {
        cli_fail("step %" PRIu64 " is past the run's last step %" PRIu64, j, trace_steps(t));
        goto out;
    }
    if (state_file) {
        size_t n;
        if (plow_read_file(state_file, proof_replay_state_max(r), &buf, &n, err) ||
            proof_replay_load_state(r, buf, n, err)) {
            cli_fail("%s", err);
            goto out;
        }
        if (proof_replay_at(r) != j - 1) {
            printf("invalid: %s holds state %" PRIu64 ", not state %" PRIu64 "\n", state_file, proof_replay_at(r), j - 1);
            rc = 1;
            goto out;
        }
    } else {
        uint64_t ck = j - 1;
        char cerr[PLOW_ERR_LEN];
        while (ck > 0 && proof_replay_load_checkpoint(r, dir, ck, cerr) != 0) ck--;
        if (ck == 0) proof_replay_reinit(r);
    }
    /* the starting state must be the committed one */
    proof_replay_hash(r, h);
    uint64_t at = proof_replay_at(r);
    if (memcmp(h, trace_leaf(t, at), PLOW_HASH_LEN) != 0) {
        printf("invalid: state %" PRIu64 " does not hash to the committed leaf %" PRIu64 "\n", at, at);
        rc = 1;
        goto out;
    }
    while (proof_replay_at(r) < j) {
        proof_replay_step(r);
        at = proof_replay_at(r);
        proof_replay_hash(r, h);
        if (at < j && memcmp(h, trace_leaf(t, at), PLOW_HASH_LEN) != 0) {
            printf("invalid: re-executed step %" PRIu64 " does not give the committed leaf (on the way to %" PRIu64
                   ")\n", at, j);
            rc = 1;
            goto out;
        }
    }
    hex(h, hx);
    hex(trace_leaf(t, j), lx);
    printf("step %" PRIu64 ": leaf %s\n", j, hx);
    printf("committed:  %s\n", lx);
    if (memcmp(h, trace_leaf(t, j), PLOW_HASH_LEN) == 0) {
        printf("match: re-executing step %" PRIu64 " gives the committed leaf (%s x %d thread)\n", j,
               tensor_path_name(tensor_path_get()), tensor_threads());
        rc = 0;
    } else {
        printf("MISMATCH: re-executing step %" PRIu64 " does not give the committed leaf\n", j);
        rc = 1;
    }
out:
    free(buf);
    free(tp);
    trace_free(t);
    proof_replay_free(r);
    return rc;
}
