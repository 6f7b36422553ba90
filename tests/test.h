/*
 * test.h — the tiny unit-test harness shared by every tests/test_*.c file.
 *
 * A test is a `static void fn(void)` that calls CHECK(cond) / CHECKF(cond, fmt,...).
 * Each test file exports one table, e.g.
 *
 *     const test_case tokenizer_tests[] = {
 *         {"tokenizer_roundtrip", test_roundtrip},
 *         {NULL, NULL},
 *     };
 *
 * and tests/test_main.c lists the tables. A failed CHECK marks the test failed
 * and keeps going, so one run shows every broken assertion.
 */
#ifndef PLOW_TEST_H
#define PLOW_TEST_H

#include "../src/base/plow.h"

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

extern int test_failed_checks;
void test_fail(const char *file, int line, const char *fmt, ...) PLOW_PRINTF(3, 4);

#define CHECK(c) ((c) ? (void)0 : test_fail(__FILE__, __LINE__, "%s", #c))
#define CHECKF(c, ...) ((c) ? (void)0 : test_fail(__FILE__, __LINE__, __VA_ARGS__))

/* A scratch directory for this test run (created by the runner, removed at exit
 * unless PLOW_KEEP_TMP is set). */
const char *test_tmpdir(void);
/* Path of the repository's data/tinyshakespeare.txt. */
const char *test_corpus_path(void);

#endif
