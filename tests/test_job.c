#include "test.h"

const test_case job_tests[] = {
    {NULL, NULL},
};
