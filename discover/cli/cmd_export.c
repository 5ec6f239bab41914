/* cmd_export.c — `discover export ID`: a candidate as a standalone objective, a C file or
 * (--format pytorch) a Python module.
 *
 * The C file is a header comment (what it is, where it came from, how to use it) followed by
 * the candidate's code byte for byte, so `discover check FILE` accepts it exactly as it
 * accepted the candidate. The metadata block is shared with the PyTorch module
 * (export_meta.c); the module itself is written by export_pytorch.c. */
#define _GNU_SOURCE /* realpath, PATH_MAX */
#include "cli.h"
#include "export.h"

#include "archive/archive.h"
#include "common/safe_text.h"
#include "common/util.h"
#include "inner_loop/task.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: discover export ID [--format c|pytorch] [--archive PATH] [-o|--output FILE]\n"
            "                          [--force]\n"
            "\n"
            "Writes candidate ID as a standalone objective with a header holding its name,\n"
            "thought, campaign, task, status, scores, metrics and origin.\n"
            "\n"
            "  --format c        (default) a C file: the header as a comment, then the code\n"
            "                    exactly as archived. Use it with 'discover check FILE --task\n"
            "                    T', 'discover eval FILE --task T', or in your own trainer\n"
            "                    after #include \"discover_objective.h\".\n"
            "  --format pytorch  a self-contained Python module (-o NAME.py): 'loss' with the\n"
            "                    task's signature (preference: TRL's four log-prob tensors,\n"
            "                    beta, chosen_lens=None, rejected_lens=None; classification:\n"
            "                    logits, labels), one loss per pair or row, and a dict META.\n"
            "                    An offline-proposer (evolve) candidate becomes PyTorch tensor\n"
            "                    operations (autograd, any device); any other candidate's C\n"
            "                    is compiled with the system C compiler and called through\n"
            "                    ctypes, in your process, with NO sandbox.\n"
            "  --archive PATH    the archive (default: $DISCOVER_ARCHIVE, else ./discover.db)\n"
            "  -o, --output FILE write to FILE (default: standard output)\n"
            "  --force           overwrite FILE when it exists\n");
}

static char *build_c_file(const export_source *e)
{
    const char *task = e->camp ? e->camp->task : "TASK";
    char line[1024];
    dc_sb b = {0};
    dc_sb_append(&b, "/* discover objective, exported from an archive.\n *\n");
    export_metadata(&b, EXPORT_C, e);
    dc_sb_append(&b, " *\n * Use it:\n");
    export_comment(&b, EXPORT_C,
                   dc_fmt(line, sizeof line, "discover check %s --task %s   (compile, pre-screen)",
                          e->file_name, task),
                   "  ");
    export_comment(&b, EXPORT_C,
                   dc_fmt(line, sizeof line, "discover eval %s --task %s    (train and score)",
                          e->file_name, task),
                   "  ");
    dc_sb_append(&b, " * or in your own trainer (C), with the header from discover's sandbox/:\n");
    dc_sb_append(&b, " *   #include \"discover_objective.h\"\n");
    export_comment(&b, EXPORT_C, dc_fmt(line, sizeof line, "#include \"%s\"", e->file_name), "  ");
    dc_sb_append(&b, " */\n");
    dc_sb_append(&b, e->c->code);
    return dc_sb_take(&b);
}

/* 1 when s is a Python identifier (ASCII letters, digits, underscore, not starting with a
 * digit): what `import NAME` accepts. */
static int py_identifier(const char *s, size_t n)
{
    if (n == 0 || isdigit((unsigned char)s[0])) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return 0;
    return 1;
}

/* The text in the chosen format, or NULL with a message. */
static char *build(int pytorch, const export_source *e, int *rendered, char *err, size_t errcap)
{
    if (!pytorch) return build_c_file(e);
    if (!e->camp) {
        dc_fmt(err, errcap,
               "candidate %lld has no readable campaign, so its task (and the signature of "
               "its loss) is unknown; --format c still works",
               (long long)e->c->id);
        return NULL;
    }
    const dc_task_ops *task = dc_task_find(e->camp->task);
    if (!task) {
        dc_fmt(err, errcap,
               "candidate %lld belongs to task '%s', which this discover does not know "
               "(known: %s), so the signature of its loss is unknown; --format c still works",
               (long long)e->c->id, e->camp->task, dc_task_names());
        return NULL;
    }
    return export_pytorch(e, task, rendered, err, errcap);
}

int cmd_export(int argc, char **argv)
{
    const char *path = archive_default_path(), *id_text = NULL, *out = NULL, *format = "c";
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "--archive") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
                   !strcmp(a, "--format")) {
            if (i + 1 >= argc) return cli_usage_error("export", "%s needs a value", a);
            if (!strcmp(a, "--archive"))
                path = argv[++i];
            else if (!strcmp(a, "--format"))
                format = argv[++i];
            else
                out = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("export", "unknown option '%s'", a);
        } else if (id_text) {
            return cli_usage_error("export", "one candidate id only (got '%s' and '%s')", id_text,
                                   a);
        } else {
            id_text = a;
        }
    }
    if (strcmp(format, "c") != 0 && strcmp(format, "pytorch") != 0)
        return cli_usage_error("export", "--format is 'c' or 'pytorch', got '%s'", format);
    int pytorch = !strcmp(format, "pytorch");
    long id;
    if (!id_text) return cli_usage_error("export", "which candidate? give its id ('discover ls')");
    if (dc_parse_long(id_text, 1, 0x7fffffffL, &id))
        return cli_usage_error("export", "a candidate id is a whole number from 1, got '%s'",
                               id_text);
    struct stat sb;
    if (out && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_error("export", "%s is a directory; give a file name, e.g. %s/%s", out, out,
                         pytorch ? "objective.py" : "objective.c");
    if (out && !force && stat(out, &sb) == 0)
        return cli_error("export", "%s already exists; pass --force to overwrite it", out);

    char err[1024];
    archive *a;
    if (archive_open(path, ARC_READONLY, &a, err, sizeof err))
        return cli_error("export", "%s", err);
    arc_candidate c;
    int found = archive_candidate_get(a, id, &c, err, sizeof err);
    if (found != 0) {
        int rc = found < 0 ? cli_error("export", "%s", err)
                           : cli_error("export", "no candidate %ld in %s; 'discover ls' lists them",
                                       id, path);
        archive_close(a);
        return rc;
    }
    arc_campaign camp;
    int have_camp = archive_campaign_by_id(a, c.campaign_id, &camp, err, sizeof err) == 0;
    char abs[PATH_MAX];
    if (!realpath(path, abs)) dc_fmt(abs, sizeof abs, "%s", path);
    char *base = dc_strdup(out ? out : pytorch ? "MODULE.py" : "FILE");
    export_source e = {&c, have_camp ? &camp : NULL, abs, basename(base)};
    int rendered = 0;
    char *text = build(pytorch, &e, &rendered, err, sizeof err);
    int rc = EXIT_OK;
    if (!text) {
        rc = cli_error("export", "%s", err);
    } else if (!out) {
        /* The file as archived when piped; escaped when a person reads it on a terminal
         * (the code and the thought in its comment are the candidate's). */
        if (cli_stdout_is_tty()) {
            char *safe = dc_safe_text(text, DC_SAFE_BLOCK);
            free(text);
            text = safe;
        }
        if (fputs(text, stdout) == EOF || fflush(stdout) != 0)
            rc = cli_error("export", "cannot write to standard output: %s", strerror(errno));
    } else if (dc_write_file(out, text, strlen(text), err, sizeof err)) {
        rc = cli_error("export", "%s", err);
    } else {
        dc_safe_pool sp = {0};
        fprintf(stderr, "discover export: wrote candidate %ld (%s) to %s\n", id,
                dc_safe(&sp, c.name, DC_SAFE_LINE), dc_safe(&sp, out, DC_SAFE_LINE));
        size_t stem = strlen(e.file_name);
        if (pytorch && stem > 3 && !strcmp(e.file_name + stem - 3, ".py")) stem -= 3;
        if (pytorch && !py_identifier(e.file_name, stem))
            fprintf(stderr,
                    "discover export: note: '%s' is not a Python module name (letters, digits, "
                    "_); rename it to use 'import', or load it with importlib\n",
                    dc_safe(&sp, e.file_name, DC_SAFE_LINE));
        dc_safe_free(&sp);
    }
    if (rc == EXIT_OK && pytorch)
        fprintf(stderr, rendered
                            ? "discover export: the loss is PyTorch tensor operations rendered "
                              "from the candidate's genome\n"
                            : "discover export: the module carries the candidate's C and runs "
                              "it through ctypes in the caller's process, with no sandbox: "
                              "read it before use\n");
    if (rc == EXIT_OK && strcmp(c.status, "ok") != 0)
        fprintf(stderr,
                "discover export: note: candidate %ld has status '%s'; the file carries its code "
                "as archived\n",
                id, c.status);
    free(text);
    free(base);
    if (have_camp) arc_campaign_free(&camp);
    arc_candidate_free(&c);
    archive_close(a);
    return rc;
}
