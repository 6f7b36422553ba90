#include "../base/plow.h"

#include "cli.h"

int cmd_wallet(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("wallet: not built yet");
}
