#define _GNU_SOURCE
/* cmd_demo.c — `discover demo`: the teaching demo.
 *
 * A short offline campaign (the evolve proposer, no network, no key) on the small, fast
 * configuration that the demo task declares (inner_loop/task.h: demo_options; today
 * Fashion-MNIST with noisy labels), narrated step by step. It leaves its archive behind for
 * `discover ls`, `show` and `export`. */
#include "cli.h"
#include "run_config.h"
#include "common/stop_signal.h"

#include "common/util.h"
#include "inner_loop/task.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void demo_help(void)
{
    printf("Usage: discover demo [OPTIONS]\n\n"
           "A narrated offline discovery campaign on Fashion-MNIST with 40%% label noise:\n"
           "the evolve proposer writes loss functions in C, each is compiled and pre-screened\n"
           "in the sandbox, trained, and scored on a validation split (its fitness) and on the\n"
           "held-out test split. No network, no API key. Takes under a minute on 2 cores.\n\n"
           "Options (any 'discover run' option is accepted too):\n"
           "  --generations N   proposals after the seed baselines (default 8)\n"
           "  --archive PATH    where to keep the results (default $DISCOVER_ARCHIVE or\n"
           "                    ./discover.db)\n"
           "  --campaign NAME   campaign name (default demo-YYYYmmdd-HHMMSS)\n"
           "  --seed N          a different seed gives a different search\n"
           "  --quiet           no narration\n\n"
           "Afterwards: discover ls --campaign NAME, discover show ID, discover export ID.\n");
}

int cmd_demo(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            demo_help();
            return EXIT_OK;
        }
    const dc_task_ops *demo = NULL;
    for (int i = 0; !demo && dc_task_at(i); i++)
        if (dc_task_at(i)->demo_options) demo = dc_task_at(i);
    if (!demo) return cli_error("demo", "no registered task declares a demo configuration");
    dc_campaign_cfg cfg;
    dc_campaign_cfg_default(&cfg);
    char e[512];
    if (dc_campaign_set(&cfg, "task", demo->name, e, sizeof e) != 0) return cli_error("demo", "%s", e);
    for (const char *const *o = demo->demo_options; *o; o++) {
        const char *eq = strchr(*o, '=');
        char key[80];
        if (!eq || dc_fmt_exact(key, sizeof key, "task.%.*s", (int)(eq - *o), *o) != 0)
            return cli_error("demo", "internal error: bad demo option '%s'", *o);
        if (dc_campaign_set(&cfg, key, eq + 1, e, sizeof e) != 0) return cli_error("demo", "%s", e);
    }
    cfg.generations = 8;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    snprintf(cfg.campaign, sizeof cfg.campaign, "demo-%s", ts);
    run_flags rf = {0};
    int rc = dc_run_configure("demo", argc, argv, &cfg, &rf);
    if (rc) return rc;
    if (rf.confirm) return cli_usage_error("demo", "--confirm is an option of 'discover run'");
    cfg.narrate = !rf.quiet;
    if (!rf.quiet)
        fprintf(stderr, "discover demo: LLM-style discovery of a loss function, offline.\n%s\n",
                demo->demo_intro ? demo->demo_intro : "");
    static volatile sig_atomic_t stop;
    dc_stop_signal_install(&stop);
    dc_campaign_summary sum;
    char err[1024];
    if (dc_campaign_run(&cfg, &stop, &sum, err, sizeof err) != 0) {
        cli_error("demo", "%s", err);
        return sum.campaign_id ? EXIT_REJECTED : EXIT_USAGE;
    }
    return dc_run_report(&cfg, &sum, rf.json, NULL);
}
