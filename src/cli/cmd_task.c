#include "../base/plow.h"

#include "cli.h"

int cmd_task(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("task: not built yet");
}
