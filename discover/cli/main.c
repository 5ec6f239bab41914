/* main.c — `discover COMMAND [ARGS]`: dispatch to the subcommands. */
#include "cli.h"

#include "common/util.h"
#include "discover/campaign/campaign.h"

#include <stdio.h>
#include <string.h>

#ifndef DISCOVER_VERSION
#define DISCOVER_VERSION "0.0.0"
#endif

static const struct {
    const char *name;
    dc_command_fn fn;
    const char *summary;
} commands[] = {
    {"demo", cmd_demo, "teaching demo: a short narrated offline campaign on fashion"},
    {"run", cmd_run, "run a discovery campaign (LLM, offline evolve or random, or replay proposer)"},
    {"check", cmd_check, "compile and pre-screen one objective in the sandbox"},
    {"eval", cmd_eval, "train and score one objective on a task"},
    {"ls", cmd_ls, "list archived candidates"},
    {"show", cmd_show, "show one candidate: thought, code, metrics, curves, LLM exchange"},
    {"export", cmd_export, "write a candidate as a standalone objective C file"},
    {"replay", cmd_replay, "train and score an archived candidate again (more seeds, betas)"},
    {"confirm", cmd_confirm, "re-train a campaign's best on fresh seeds; winner by confirmed fitness"},
    {"campaigns", cmd_campaigns, "list the campaigns in an archive"},
    {"report", cmd_report, "write a self-contained HTML report of a campaign (plots, table)"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "discover %s: LLM-driven discovery of training objectives (DiscoPOP's search, in C)\n\n"
            "Usage: discover COMMAND [OPTIONS]\n\nCommands:\n",
            DISCOVER_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'discover COMMAND --help' documents each command's options.\n"
               "Quick start: 'discover demo'. The README has the user guide.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("discover %s\n", DISCOVER_VERSION);
        return EXIT_OK;
    }
    /* not listed: the evaluator process of 'run --jobs N' (discover/campaign/evaluator.h) */
    if (!strcmp(cmd, "__evaluator") && argc == 4) {
        long in, out;
        if (dc_parse_long(argv[2], 0, 1 << 20, &in) != 0 ||
            dc_parse_long(argv[3], 0, 1 << 20, &out) != 0) {
            fprintf(stderr, "discover __evaluator: IN_FD and OUT_FD must be numbers\n");
            return EXIT_USAGE;
        }
        return dc_evaluator_main((int)in, (int)out);
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "discover: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
