#include "test.h"

const test_case tx_tests[] = {
    {NULL, NULL},
};
