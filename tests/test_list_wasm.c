/* test_list_wasm.c — the unit-test tables of build/wasm/plow_test.wasm: the
 * kernels (SIMD128 against scalar, bit for bit) and src/wasm's replacements
 * for Debian's libraries. */
#include "test.h"

extern const test_case tensor_tests[];
extern const test_case wasm_tests[];

const test_case *const test_tables[] = {tensor_tests, wasm_tests, NULL};
