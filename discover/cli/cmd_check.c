/* cmd_check.c — `discover check FILE.c --task sentiment|fashion [--json]`: compile one
 * objective in the sandbox and run the pre-screen, without training anything. */
#include "cli.h"

#include "common/safe_text.h"
#include "common/status.h"
#include "common/util.h"
#include "discover/campaign/evaluate.h"
#include "inner_loop/task.h"
#include "sandbox/sandbox.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("Usage: discover check FILE.c --task TASK [--json]\n\n"
           "Compiles one candidate objective in the sandbox and runs the pre-screen (probe\n"
           "batches: random, extreme magnitudes, ties, a single row, 1024 rows; losses and\n"
           "gradients must be finite, every row written, deterministic, not constant, fast).\n"
           "Nothing is trained. FILE.c may be at most 256 KiB (the source limit of check,\n"
           "eval and run).\n\n"
           "Options:\n"
           "  --task TASK   sentiment (preference pairs: void objective(const pref_batch *b,\n"
           "                double *loss)) or fashion (classification: void objective(int n,\n"
           "                int k, const double *logits, const int *labels, double *loss))\n"
           "  --json        print one JSON object: status, message, separable, gradient\n"
           "                (analytic when objective_grad passed its check, else numerical),\n"
           "                gradient_note (why an objective_grad is not used), fingerprint,\n"
           "                seconds (status is ok, compile_error, violation, crash, timeout,\n"
           "                nonfinite or invalid)\n"
           "  -h, --help    this text\n\n"
           "Exit status: 0 accepted, 2 rejected, 1 usage error (bad flag, unknown task,\n"
           "unreadable file) or a sandbox that cannot start.\n");
}

int cmd_check(int argc, char **argv)
{
    const char *file = NULL, *task = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help();
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--task")) {
            if (i + 1 >= argc) return cli_usage_error("check", "--task needs a value (%s)", dc_task_names());
            task = argv[++i];
        } else if (!strncmp(a, "--task=", 7)) {
            task = a + 7;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("check", "unknown option '%s'", a);
        } else if (file) {
            return cli_usage_error("check", "one FILE.c at a time (got '%s' and '%s')", file, a);
        } else {
            file = a;
        }
    }
    if (!file) return cli_usage_error("check", "missing FILE.c (the objective to check)");
    if (!task) return cli_usage_error("check", "missing --task (%s)", dc_task_names());
    // only the task's table: its interface, limits and probe shape (no data is loaded)
    const dc_task_ops *ops = dc_task_find(task);
    if (!ops)
        return cli_usage_error("check", "unknown task '%s'; the tasks are: %s", task, dc_task_names());

    char err[512];
    size_t len = 0;
    char *src = dc_read_source(file, &len, err, sizeof err);
    if (!src) return cli_error("check", "%s", err);

    char msg[1024] = {0}, fp[32] = {0};
    int separable = -1, analytic = 0;
    char grad_note[400] = "";
    double t0 = dc_now();
    sbx_worker *w = NULL;
    dc_status st = dc_screen(ops, src, len, NULL, &w, fp, &separable, msg, sizeof msg);
    free(src);
    if (st == DC_OK) {
        analytic = sbx_uses_grad_fn(w);
        dc_fmt(grad_note, sizeof grad_note, "%s", sbx_grad_note(w));
        sbx_close(w);
    } else {
        separable = -1;
    }
    double seconds = dc_now() - t0;

    if (st == DC_ERROR) /* not the candidate's fault: the sandbox itself could not run */
        return cli_error("check", "%s", msg);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddStringToObject(o, "task", task);
        cJSON_AddStringToObject(o, "status", dc_status_name(st));
        cJSON_AddStringToObject(o, "message", msg);
        if (separable >= 0)
            cJSON_AddBoolToObject(o, "separable", separable);
        else
            cJSON_AddNullToObject(o, "separable");
        if (fp[0])
            cJSON_AddStringToObject(o, "fingerprint", fp);
        else
            cJSON_AddNullToObject(o, "fingerprint");
        if (separable >= 0) {
            cJSON_AddStringToObject(o, "gradient", analytic ? "analytic" : "numerical");
            cJSON_AddStringToObject(o, "gradient_note", grad_note);
        }
        cJSON_AddNumberToObject(o, "seconds", seconds);
        char *text = cJSON_PrintUnformatted(o);
        // valid UTF-8 whatever bytes the file name or the compiler's message hold
        char *safe = text ? dc_json_safe(text) : NULL;
        if (safe) puts(safe);
        free(safe);
        free(text);
        cJSON_Delete(o);
    } else {
        // the file name and the message (#error, #line text) are the candidate's: escaped
        dc_safe_pool sp = {0};
        const char *sfile = dc_safe(&sp, file, DC_SAFE_LINE);
        if (st == DC_OK) {
            printf("ok: %s passes the pre-screen for task %s (%s, %s gradient, fingerprint %s, "
                   "%.3f s)\n",
                   sfile, task, separable ? "row-separable" : "uses batch statistics",
                   analytic ? "analytic (objective_grad, checked)" : "numerical", fp, seconds);
            if (grad_note[0]) printf("note: %s\n", dc_safe(&sp, grad_note, DC_SAFE_LINE));
        } else {
            printf("rejected (%s): %s: %s\n", dc_status_name(st), sfile,
                   dc_safe(&sp, msg, DC_SAFE_LINE));
        }
        dc_safe_free(&sp);
    }
    return st == DC_OK ? EXIT_OK : EXIT_REJECTED;
}
