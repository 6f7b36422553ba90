/*
 * cmd_demo.c — plow demo (being written).
 */
#include "../base/plow.h"

#include "cli.h"

int cmd_demo(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("demo: not implemented yet");
}
