/*
 * referee.c — `plow referee --blobs DIR --spec H --step J --state H
 * --leaf-prev H [--slot K]` (in plow.wasm): the node referee's ruling on a
 * challenge (job_referee, the same code the node runs), computed where this
 * runs — in a visitor's browser (www/verify.js through wasm/plow.mjs) — from
 * blobs the caller fetched into DIR, each file named by its hash in hex.
 * What it prints is the referee's leaf j: the caller compares it with the
 * leaf the accused committed ("don't trust, verify").
 *
 * A training-like step: --state is the blob of state j-1 (ignored for j = 1:
 * state 0 is rebuilt from the spec), --leaf-prev the agreed leaf j-1. An
 * inference: --step 1, --state and --leaf-prev the receipt blob's hash; the
 * computed leaf is the hash of the output tokens the spec gives.
 *
 * Output: "computed HEX" and "agreed yes|no" (whether state j-1 is the
 * agreed one; "no" leaves computed zero, as the referee's ruling), exit 0.
 * A blob absent from DIR: a "need HEX" line for each, exit 3 (the caller
 * fetches them and runs again). Exit 1: the ruling cannot be computed; 2: usage.
 * Every blob is checked against its name (job_fetch): a node serving other
 * bytes is refused, never believed.
 */
#include "../base/plow.h"

#include <getopt.h>

#include "../cli/cli.h"
#include "../job/job.h"
#include "../ledger/ledger.h"

static const char usage[] =
    "usage: plow referee --blobs DIR --spec HASH --step J --state HASH --leaf-prev HASH [--slot K]\n"
    "\n"
    "Computes the referee's leaf j of a challenge from the task's spec and the\n"
    "blobs in DIR (each file named by its SHA-256 in hex): a training step\n"
    "re-executed from state j-1 (--state, the blob; --leaf-prev, its agreed\n"
    "leaf), or an inference's output re-derived (--step 1, --state and\n"
    "--leaf-prev the receipt's hash). Prints 'computed HEX' and 'agreed yes|no'.\n"
    "Exit 0: computed; 3: blobs missing from DIR (one 'need HEX' line each);\n"
    "1: it cannot be computed; 2: bad usage.\n"
    "\n"
    "  --slot K        a round's participant (the accused's slot)\n"
    "  --simd PATH     scalar, simd128 or auto\n";

#define NEED_MAX 16

typedef struct blob_dir {
    const char *dir;
    uint8_t need[NEED_MAX][32];
    int n_need;
} blob_dir;

static void need(blob_dir *d, const uint8_t hash[32]) {
    for (int i = 0; i < d->n_need; i++)
        if (memcmp(d->need[i], hash, 32) == 0) return;
    if (d->n_need < NEED_MAX) memcpy(d->need[d->n_need++], hash, 32);
}

/* DIR/HEX copied to path (job_fetch checks its hash); absent: recorded */
static int bd_get(void *ctx, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]) {
    blob_dir *d = ctx;
    char hex[65];
    plow_hex(hash, 32, hex);
    size_t pl = strlen(d->dir) + 70;
    char *p = plow_alloc(pl);
    snprintf(p, pl, "%s/%s", d->dir, hex);
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc;
    if (!plow_file_exists(p)) {
        need(d, hash);
        rc = plow_error(err, "blob %.16s... is not in %s", hex, d->dir);
    } else {
        rc = plow_read_file(p, (size_t)1 << 30, &buf, &n, err) || plow_write_file(path, buf, n, err) ? -1 : 0;
    }
    free(buf);
    free(p);
    return rc;
}

static int bd_put(void *ctx, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)ctx, (void)path, (void)hash;
    return plow_error(err, "the referee uploads nothing");
}

static bool hash_arg(const char *s, uint8_t out[32]) { return s && strlen(s) == 64 && plow_unhex(s, out, 32) == 0; }

int cmd_referee(int argc, char **argv) {
    static const struct option opts[] = {
        {"blobs", required_argument, NULL, 'b'}, {"spec", required_argument, NULL, 'p'},
        {"step", required_argument, NULL, 's'},  {"state", required_argument, NULL, 'f'},
        {"leaf-prev", required_argument, NULL, 'l'}, {"slot", required_argument, NULL, 'k'},
        {"simd", required_argument, NULL, 'm'},  {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *dir = NULL, *spec_hex = NULL, *state_hex = NULL, *prev_hex = NULL, *simd = NULL;
    long step = -1, slot = -1;
    char err[PLOW_ERR_LEN];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': dir = optarg; break;
        case 'p': spec_hex = optarg; break;
        case 'f': state_hex = optarg; break;
        case 'l': prev_hex = optarg; break;
        case 'm': simd = optarg; break;
        case 's':
            if (cli_int("--step", optarg, 1, 1L << 30, &step, err)) return cli_usage_error("referee", "%s", err);
            break;
        case 'k':
            if (cli_int("--slot", optarg, 0, LEDGER_MAX_REPLICAS - 1, &slot, err))
                return cli_usage_error("referee", "%s", err);
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage_error("referee", "unknown option");
        }
    }
    ledger_challenge ch;
    memset(&ch, 0, sizeof ch);
    uint8_t spec_hash[32];
    if (optind != argc) return cli_usage_error("referee", "unexpected argument '%s'", argv[optind]);
    if (!dir || step < 1) return cli_usage_error("referee", "--blobs DIR and --step J are required");
    if (!hash_arg(spec_hex, spec_hash) || !hash_arg(state_hex, ch.state_blob) || !hash_arg(prev_hex, ch.leaf_prev))
        return cli_usage_error("referee", "--spec, --state and --leaf-prev take a hash (64 hex digits)");
    ch.step = (uint64_t)step;
    ch.kind = LEDGER_CHK_STEP;
    if (cli_init_engine(simd, 1, err)) return cli_fail("%s", err);

    blob_dir bd = {.dir = dir};
    job_blobs jb = {.ctx = &bd, .get_file = bd_get, .put_file = bd_put};
    uint8_t *sbuf = NULL, computed[32];
    size_t sn = 0;
    bool prev_ok = false;
    job_spec spec;
    int rc = 1, jrc;
    /* the spec: the blob the task names, those bytes and no others */
    {
        size_t pl = strlen(dir) + 70;
        char *p = plow_alloc(pl);
        uint8_t h[32];
        snprintf(p, pl, "%s/%s", dir, spec_hex);
        if (!plow_file_exists(p)) need(&bd, spec_hash);
        int src = bd.n_need ? -1 : plow_read_file(p, JOB_SPEC_MAX, &sbuf, &sn, err);
        free(p);
        if (src) goto out;
        plow_sha256_once(sbuf, sn, h);
        if (memcmp(h, spec_hash, 32) != 0) {
            plow_error(err, "the spec blob's bytes do not hash to its name %.16s...", spec_hex);
            goto out;
        }
        if (job_spec_parse(&spec, sbuf, sn, err)) {
            plow_error_prefix(err, "the task's spec");
            goto out;
        }
    }
    if (slot >= 0) spec.slot = (int)slot;
    jrc = job_referee(&spec, &jb, &ch, "referee/work", computed, &prev_ok, err);
    if (bd.n_need == 0 && jrc == 0) {
        char hx[65];
        plow_hex(computed, 32, hx);
        printf("computed %s\nagreed %s\n", hx, prev_ok ? "yes" : "no");
        rc = 0;
    } else if (bd.n_need == 0 && jrc > 0) {
        plow_error_prefix(err, "the task cannot be run within the network's limits");
    }
out:
    if (bd.n_need > 0) { /* whatever else failed, it was for want of these */
        for (int i = 0; i < bd.n_need; i++) {
            char hx[65];
            plow_hex(bd.need[i], 32, hx);
            printf("need %s\n", hx);
        }
        rc = 3;
    } else if (rc != 0) {
        cli_fail("%s", err);
    }
    free(sbuf);
    return rc;
}
