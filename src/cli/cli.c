/*
 * cli.c — the helpers every plow subcommand shares (cli.h): error printing,
 * strict number parsing, the progress bar, engine start-up, JSON lines. Apart
 * from main.c so that the WebAssembly build (src/wasm/main.c, a smaller command
 * table) links the same helpers.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "../tensor/tensor.h"
#include "cli.h"

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("plow: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "plow %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'plow %s --help'.\n", cmd);
    va_end(ap);
    return 2;
}

int cli_int(const char *opt, const char *s, long lo, long hi, long *out, char err[PLOW_ERR_LEN]) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return plow_error(err, "%s expects a whole number in %ld..%ld, got '%s'", opt, lo, hi, s);
    *out = v;
    return 0;
}

int cli_u64(const char *opt, const char *s, uint64_t *out, char err[PLOW_ERR_LEN]) {
    char *end;
    errno = 0;
    if (*s == '-') return plow_error(err, "%s expects a non-negative whole number, got '%s'", opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return plow_error(err, "%s expects a non-negative whole number, got '%s'", opt, s);
    *out = (uint64_t)v;
    return 0;
}

int cli_float(const char *opt, const char *s, double lo, double hi, double *out, char err[PLOW_ERR_LEN]) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return plow_error(err, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s);
    *out = v;
    return 0;
}

void cli_progress_start(cli_progress *p, const char *label, long total) {
    p->label = label;
    p->total = total;
    p->t0 = plow_now();
    p->last = 0;
    p->tty = isatty(2);
}

static void fmt_secs(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

void cli_progress_update(cli_progress *p, long done, const char *extra) {
    double now = plow_now();
    bool final = done >= p->total;
    if (!final && now - p->last < (p->tty ? 0.1 : 5.0)) return;
    p->last = now;
    double el = now - p->t0, eta = done > 0 ? el / (double)done * (double)(p->total - done) : -1;
    char es[16], ets[16];
    fmt_secs(el, es, sizeof es);
    fmt_secs(eta, ets, sizeof ets);
    int width = 24, fill = p->total > 0 ? (int)((double)width * (double)done / (double)p->total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "%s%s %ld/%ld [%s] %s elapsed %s eta %s%s", p->tty ? "\r\033[K" : "", p->label, done,
            p->total, bar, extra ? extra : "", es, ets, p->tty ? "" : "\n");
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->tty) fputc('\n', stderr);
}

int cli_init_engine(const char *simd, long threads, char err[PLOW_ERR_LEN]) {
    return tensor_init(simd, (int)threads, err);
}

void cli_json_line(plow_buf *b, cJSON *o) {
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    PLOW_ASSERT(txt);
    plow_buf_append(b, txt, strlen(txt));
    plow_buf_append(b, "\n", 1);
    free(txt);
}

static void usage(FILE *f, const cli_command *commands, int n) {
    fprintf(f, "usage: plow <command> [options]\n\n"
               "plow trains, fine-tunes and runs small transformer models with results\n"
               "that are bit-identical on every machine.\n\ncommands:\n");
    for (int i = 0; i < n; i++) fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'plow <command> --help' for the options of one command.\n"
               "Environment: PLOW_THREADS (thread count), PLOW_SIMD (scalar, avx2, avx512, neon, simd128).\n");
}

int cli_main(int argc, char **argv, const cli_command *commands, int n) {
    if (argc < 2) {
        usage(stderr, commands, n);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout, commands, n);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("plow %s\n", PLOW_VERSION);
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(cmd, commands[i].name) == 0) {
            int rc = commands[i].run(argc - 1, argv + 1);
            tensor_shutdown();
            return rc;
        }
    fprintf(stderr, "plow: unknown command '%s'\n\n", cmd);
    usage(stderr, commands, n);
    return 2;
}
