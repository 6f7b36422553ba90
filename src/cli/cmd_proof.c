/*
 * cmd_proof.c — `plow verify` and `plow dispute`: checking committed runs.
 */
#include "../base/plow.h"

#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "../proof/run.h"
#include "cli.h"

static const char verify_help[] =
    "usage: plow verify RUN_DIR [--samples K] [--challenge SEED] [--trials N]\n"
    "\n"
    "Checks a run committed with 'plow train --commit': re-executes K sampled\n"
    "steps (drawn from SEED, which the worker could not know when it committed)\n"
    "from the nearest checkpoints, always the last step, and that the published\n"
    "model or adapter is the final state's weights. Exits 0 for a valid run; 1\n"
    "with the first bad step otherwise; 2 on bad usage or missing files.\n"
    "\n"
    "  --samples K      sampled steps (default 8, at most 63)\n"
    "  --challenge S    the sampling seed (default: random, printed)\n"
    "  --trials N       run N verifications with challenges 1..N and report the\n"
    "                   detection rate (to measure audit strength)\n"
    "  --challenge-response  the worker answers each sampled step j with its\n"
    "                   state j-1 (regenerated from its checkpoints, at its cost);\n"
    "                   the verifier checks it and re-executes one step. Both\n"
    "                   roles run here; the report splits their costs.\n";

int cmd_verify(int argc, char **argv) {
    const char *dir = NULL;
    long k = 8, trials = 0;
    uint64_t challenge = 0;
    bool have_challenge = false;
    proof_verify_mode mode = PROOF_VERIFY_REPLAY;
    char err[PLOW_ERR_LEN];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(verify_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
            if (cli_int("--samples", argv[++i], 0, 63, &k, err)) return cli_usage_error("verify", "%s", err);
        } else if (strcmp(argv[i], "--challenge") == 0 && i + 1 < argc) {
            if (cli_u64("--challenge", argv[++i], &challenge, err)) return cli_usage_error("verify", "%s", err);
            have_challenge = true;
        } else if (strcmp(argv[i], "--trials") == 0 && i + 1 < argc) {
            if (cli_int("--trials", argv[++i], 1, 100000, &trials, err)) return cli_usage_error("verify", "%s", err);
        } else if (strcmp(argv[i], "--challenge-response") == 0) {
            mode = PROOF_VERIFY_CHALLENGE;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            return cli_usage_error("verify", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!dir) return cli_usage_error("verify", "RUN_DIR is required");
    if (cli_init_engine(NULL, 0, err)) return cli_fail("%s", err);
    if (!have_challenge) {
        int fd = open("/dev/urandom", O_RDONLY);
        if (fd < 0 || read(fd, &challenge, sizeof challenge) != (ssize_t)sizeof challenge) challenge = (uint64_t)plow_now();
        if (fd >= 0) close(fd);
    }
    proof_verify_report rep;
    if (trials > 0) {
        long detected = 0;
        uint64_t runs = 0, steps = 0;
        for (long t = 1; t <= trials; t++) {
            if (proof_verify_run(dir, (int)k, (uint64_t)t, mode, &rep, err)) return cli_fail("%s", err);
            detected += !rep.valid;
            steps += rep.steps_run;
            runs = rep.n;
        }
        printf("trials %ld detected %ld rate %.4f samples %ld steps %" PRIu64 " mean_steps_run %.2f\n", trials,
               detected, (double)detected / (double)trials, k, runs, (double)steps / (double)trials);
        return 0;
    }
    if (proof_verify_run(dir, (int)k, challenge, mode, &rep, err)) return cli_fail("cannot verify '%s': %s", dir, err);
    printf("challenge %" PRIu64 ", sampled steps:", challenge);
    for (int i = 0; i < rep.samples; i++) printf(" %" PRIu64, rep.sampled[i]);
    printf("\nre-executed %" PRIu64 " of %" PRIu64 " steps (%.1f%% of the worker's steps) in %.2fs\n", rep.steps_run,
           rep.n, rep.n ? 100.0 * (double)rep.steps_run / (double)rep.n : 0.0, rep.seconds);
    if (mode == PROOF_VERIFY_CHALLENGE)
        printf("the worker answered with %zu bytes of states, running %" PRIu64 " steps in %.2fs\n", rep.bytes,
               rep.worker_steps, rep.worker_seconds);
    if (rep.valid) {
        printf("valid\n");
        return 0;
    }
    printf("INVALID at step %" PRIu64 ": %s\n", rep.bad_step, rep.reason);
    return 1;
}

static const char dispute_help[] =
    "usage: plow dispute RUN_A RUN_B\n"
    "\n"
    "Two committed runs of the same task disagree: finds the first divergent step\n"
    "j by bisection over the two traces (every answer proved against its run's\n"
    "Merkle root), has a party produce the agreed state j-1, and recomputes the\n"
    "single step j-1 -> j as the referee. Prints the step and whose leaf is wrong.\n"
    "Exits 0 if the runs agree, 1 if a party is wrong, 2 on bad usage or files.\n";

int cmd_dispute(int argc, char **argv) {
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(dispute_help, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-') return cli_usage_error("dispute", "unknown option '%s'", argv[i]);
    if (argc != 3) return cli_usage_error("dispute", "expected two run directories");
    char err[PLOW_ERR_LEN];
    if (cli_init_engine(NULL, 0, err)) return cli_fail("%s", err);
    proof_dispute_report rep;
    if (proof_dispute(argv[1], argv[2], &rep, err)) {
        fprintf(stderr, "plow: cannot settle the dispute: %s\n", err);
        return 2;
    }
    if (rep.same) {
        printf("the runs agree on every step\n");
        return 0;
    }
    static const char *const who[] = {"nobody", "A", "B", "both"};
    printf("first divergent step %" PRIu64 " (%u questions per party)\n", rep.step, rep.queries);
    printf("verdict: %s wrong (%s)\n", who[rep.wrong], rep.reason);
    printf("referee: one step in %.3fs; exchanged %zu bytes (agreed state %zu bytes)\n", rep.referee_seconds,
           rep.bytes_exchanged, rep.state_bytes);
    return rep.wrong == PROOF_NOBODY ? 0 : 1;
}
