/* STUB: replaced by the owner of this subcommand. */
#include <stdio.h>

#include "commands.h"

int cmd_cnn_info(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "frugal %s: not implemented yet\n", argv[0]);
    return 1;
}
