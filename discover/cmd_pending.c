/* TEMPORARY scaffolding while the commands are being written: each area deletes its
 * functions from this file when it adds the real command. Must be gone before release. */
#include "cli.h"

#include <stdio.h>

#define PENDING(fn, name)                                                                \
    int fn(int argc, char **argv)                                                        \
    {                                                                                    \
        (void)argc;                                                                      \
        (void)argv;                                                                      \
        fprintf(stderr, "discover " name ": not built yet\n");                          \
        return EXIT_USAGE;                                                               \
    }

PENDING(cmd_check, "check")
PENDING(cmd_eval, "eval")
PENDING(cmd_run, "run")
PENDING(cmd_demo, "demo")
PENDING(cmd_ls, "ls")
PENDING(cmd_show, "show")
PENDING(cmd_export, "export")
PENDING(cmd_replay, "replay")
PENDING(cmd_campaigns, "campaigns")
