#include "../base/plow.h"

#include "cli.h"

int cmd_block(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("block: not built yet");
}
