/*
 * test_main.c — runs the unit-test tables listed in test_list.c.
 *
 * Usage: plow_test [-l] [NAME_SUBSTRING...]
 * Prints "ok NAME (secs)" or "FAIL NAME" per test and ends with the line
 * "N passed, N failed" that CI reads. Exit status is 1 if any test failed.
 */
#include "../src/base/plow.h"

#include <stdarg.h>
#include <unistd.h>

#include "test.h"

extern const test_case *const test_tables[];

int test_failed_checks;
static char tmpdir[256];
static char corpus[1024];

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    check failed at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    test_failed_checks++;
}

const char *test_tmpdir(void) { return tmpdir; }

const char *test_corpus_path(void) { return corpus; }

static bool selected(const char *name, int argc, char **argv) {
    bool any = false;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        any = true;
        if (strstr(name, argv[i])) return true;
    }
    return !any;
}

int main(int argc, char **argv) {
    bool list = argc > 1 && strcmp(argv[1], "-l") == 0;
    const char *root = getenv("PLOW_ROOT");
    snprintf(corpus, sizeof corpus, "%s/data/tinyshakespeare.txt", root ? root : ".");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/plow_test.XXXXXX");
    if (!list && !mkdtemp(tmpdir)) {
        perror("plow_test: mkdtemp");
        return 2;
    }
    int passed = 0, failed = 0;
    for (size_t t = 0; test_tables[t]; t++) {
        for (const test_case *c = test_tables[t]; c->name; c++) {
            if (!selected(c->name, argc, argv)) continue;
            if (list) {
                printf("%s\n", c->name);
                continue;
            }
            test_failed_checks = 0;
            double t0 = plow_now();
            c->fn();
            double dt = plow_now() - t0;
            if (test_failed_checks) {
                printf("FAIL %s (%d checks)\n", c->name, test_failed_checks);
                failed++;
            } else {
                printf("ok   %s (%.2fs)\n", c->name, dt);
                passed++;
            }
            fflush(stdout);
        }
    }
    if (list) return 0;
    if (!getenv("PLOW_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "plow_test: could not remove %s\n", tmpdir);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
