/* cmd_report.c — `discover report -o report.html`: one self-contained HTML page of a
 * campaign (plots, candidate table, LLM usage). See report.h for how the work is split. */
#define _POSIX_C_SOURCE 200809L /* lstat */
#include "cli.h"

#include "common/util.h"
#include "discover/report/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef DISCOVER_VERSION
#define DISCOVER_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: discover report -o FILE [--campaign NAME] [--archive PATH] [--candidate ID]\n"
            "\n"
            "Writes one self-contained HTML page (inline SVG, no network) about a campaign:\n"
            "fitness and held-out test metric over generations with the best so far, for\n"
            "preference tasks the best objectives' loss f(x) and f'(x) beside DPO's (computed\n"
            "in the sandbox) and the reward-vs-KL frontier of beta sweeps, the training and\n"
            "value-drift curves of one candidate, LLM calls/tokens/cost/latency, and a\n"
            "sortable candidate table whose rows open to thought, code, message and parents.\n"
            "\n"
            "  -o, --output FILE\n"
            "                   where to write the page; '-' writes it to standard output\n"
            "  --campaign NAME  the campaign (default: the only one, else the most recent)\n"
            "  --archive PATH   the archive (default: $DISCOVER_ARCHIVE, else ./discover.db)\n"
            "  --candidate ID   whose curves to plot (default: the best by fitness); without\n"
            "                   --campaign its own campaign is reported\n"
            "\n"
            "'discover campaigns' lists the campaigns, 'discover ls' the candidates.\n");
}

/* Refuses to replace anything that is not a plain file (a directory, a device, a FIFO, a
 * symbolic link): the report is written by rename, which would silently replace it. */
static int check_output(const char *cmd, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return cli_error(cmd, "cannot use output '%s': %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return cli_error(cmd,
                         "output '%s' exists and is not a regular file (%s); give another path "
                         "with -o, or '-o -' for standard output",
                         path, S_ISDIR(st.st_mode) ? "a directory" : S_ISLNK(st.st_mode) ? "a symbolic link"
                                                                                          : "a special file");
    return 0;
}

int cmd_report(int argc, char **argv)
{
    const char *cmd = "report", *out = NULL;
    rp_options o = {NULL, archive_default_path(), 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "-o") && strcmp(a, "--output") && strcmp(a, "--campaign") && strcmp(a, "--archive") &&
            strcmp(a, "--candidate"))
            return cli_usage_error(cmd, a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
        if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--campaign")) o.campaign = v;
        else if (!strcmp(a, "--archive")) o.archive = v;
        else {
            long id;
            if (dc_parse_long(v, 1, 0x7fffffffL, &id) != 0)
                return cli_usage_error(cmd, "--candidate: '%s' is not a candidate ID (a positive whole number)", v);
            o.candidate = id;
        }
    }
    if (!out) return cli_usage_error(cmd, "where should the page go? give -o FILE (or -o - for standard output)");
    if (!*out) return cli_usage_error(cmd, "-o needs a file name");
    int to_stdout = !strcmp(out, "-");
    if (!to_stdout && check_output(cmd, out) != 0) return EXIT_USAGE;

    char err[1024];
    archive *a = NULL;
    if (archive_open(o.archive, ARC_READONLY, &a, err, sizeof err) != 0) return cli_error(cmd, "%s", err);
    rp_data d;
    double t0 = dc_now();
    if (rp_gather(a, &o, &d, err, sizeof err) != 0) {
        archive_close(a);
        return cli_error(cmd, "%s", err);
    }
    archive_close(a);
    char *html = rp_render(&d, "discover " DISCOVER_VERSION " report");
    size_t len = strlen(html);
    int rc = EXIT_OK;
    if (to_stdout) {
        if (fwrite(html, 1, len, stdout) != len || fflush(stdout) != 0)
            rc = cli_error(cmd, "cannot write the page to standard output: %s", strerror(errno));
    } else if (dc_write_file(out, html, len, err, sizeof err) != 0) {
        rc = cli_error(cmd, "%s", err);
    } else {
        fprintf(stderr, "discover report: campaign '%s' (%d candidates, %d LLM calls) -> %s (%.1f KiB, %.2f s)\n",
                d.camp.name, d.ncands, d.ncalls, out, len / 1024.0, dc_now() - t0);
    }
    free(html);
    rp_data_free(&d);
    return rc;
}
