#include "../base/plow.h"

#include "cli.h"

int cmd_node(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("node: not built yet");
}
