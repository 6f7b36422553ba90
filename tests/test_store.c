#include "test.h"

const test_case store_tests[] = {
    {NULL, NULL},
};
