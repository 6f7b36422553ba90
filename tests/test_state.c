#include "test.h"

const test_case state_tests[] = {
    {NULL, NULL},
};
