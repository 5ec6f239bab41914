/* cmd_eval.c — `discover eval FILE.c`: train and score one objective on a task.
 *
 * The candidate is compiled and pre-screened in a sandbox worker, then the task trains a
 * fresh model with it for each seed and scores it on the validation split (fitness) and
 * the held-out test split. Exit 0 ok, 1 usage/environment error, 2 the candidate was
 * rejected or failed. */
#define _POSIX_C_SOURCE 200809L /* sigaction, strtok_r */
#include "cli.h"

#include "common/safe_text.h"
#include "common/stop_signal.h"
#include "discover/campaign/evaluate.h"

#include "common/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SEEDS 64
#define MAX_SETS 64

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: discover eval FILE.c [--task NAME] [--seeds LIST] [--steps N] [--noise R]\n"
            "                     [--set key=value ...] [--json] [--device auto|cpu|cuda]\n\n"
            "Compiles the objective in FILE.c in the sandbox, pre-screens it, trains a fresh\n"
            "model with it for each seed and scores it: fitness = the validation metric (what a\n"
            "proposer sees), plus the held-out test metric. FILE.c may be at most 256 KiB\n"
            "(the source limit of check, eval and run).\n\n"
            "Options:\n"
            "  --task NAME      task to train on (default fashion; one of: %s)\n"
            "  --seeds LIST     seeds, e.g. 1,2,3 or 1-5 (default 1)\n"
            "  --steps N        shorthand for --set steps=N\n"
            "  --noise R        shorthand for --set noise=R (label noise, tasks that have it)\n"
            "  --beta LIST      shorthand for --set beta=LIST (sentiment: one training per β,\n"
            "                   e.g. 0.05,0.1,0.5; --json then has per_beta reward, kl,\n"
            "                   pref_accuracy)\n"
            "  --gap G          shorthand for --set gap=G (sentiment: keep preference pairs\n"
            "                   whose reward difference is at least G)\n"
            "  --set key=value  any task option (repeatable; see below)\n"
            "  --candidate-timeout S  stop training and scoring after S seconds of wall\n"
            "                   time (status timeout, at the step reached; default: none)\n"
            "  --json           print one JSON object (status, message, fitness, test metric,\n"
            "                   per_seed, seconds, ...) instead of a summary\n"
            "  --device D       compute backend: auto (default: the GPU when the CUDA plugin\n"
            "                   loads and a device works, else the CPU), cpu, or cuda (fails\n"
            "                   with the reason when no GPU works); same as --set device=D\n"
            "  -h, --help       this help\n\n"
            "Exit status: 0 trained and scored, 1 usage or environment error, 2 the candidate\n"
            "was rejected (compile, pre-screen) or failed during training.\n",
            dc_task_names());
    // the option tables of every registered task
    char names[256];
    snprintf(names, sizeof names, "%s", dc_task_names());
    for (char *save = NULL, *name = strtok_r(names, ", ", &save); name;
         name = strtok_r(NULL, ", ", &save)) {
        const dc_task_ops *ops = dc_task_find(name);
        if (!ops) continue;
        fprintf(f, "\nTask %s: %s\n  fitness = %s, held-out = %s. Options (--set key=value):\n",
                ops->name, ops->summary, ops->fitness_name, ops->test_name);
        dc_option_print_help(ops->options, f);
        fprintf(f, "  Metrics (in --json \"metrics\"; {} is a number such as β or N):\n");
        for (const dc_metric_def *m = ops->metrics; m && m->pattern; m++)
            fprintf(f, "  %-20s %s%s\n", m->pattern, m->meaning, m->held_out ? " [held out]" : "");
    }
}

/* ---- progress on stderr: one updating line on a terminal, a few plain lines otherwise ---- */

typedef struct {
    int tty, seed_index, nseeds, last_fifth, line_open;
    const int *seeds;
} progress_state;

static void on_step(void *ctx, const char *phase, int step, int total, double loss)
{
    progress_state *p = ctx;
    if (strcmp(phase, "train") == 0) {
        if (p->tty) {
            fprintf(stderr, "\r\033[Kseed %d (%d/%d)  step %d/%d  loss %.4f",
                    p->seeds[p->seed_index], p->seed_index + 1, p->nseeds, step, total, loss);
            p->line_open = 1;
        } else {
            int fifth = total > 0 ? step * 5 / total : 5;
            if (fifth != p->last_fifth) {
                fprintf(stderr, "seed %d: step %d/%d loss %.4f\n", p->seeds[p->seed_index], step,
                        total, loss);
                p->last_fifth = fifth;
            }
        }
    } else if (strcmp(phase, "score") == 0 && step == total) {
        // the end of one seed's run
        if (p->tty && p->line_open) fprintf(stderr, "\r\033[K");
        p->line_open = 0;
        p->last_fifth = 0;
        if (p->seed_index + 1 < p->nseeds) p->seed_index++;
    }
    fflush(stderr);
}

static volatile sig_atomic_t stop_flag;

/* ---- output ---- */

static const char *exit_word(dc_status st)
{
    return st == DC_OK ? "ok" : dc_status_name(st);
}

static void print_json(const char *file, const dc_task_ops *ops, dc_task *task, dc_status st,
                       const char *message, const dc_task_result *r, const char *fingerprint,
                       int separable, double seconds)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", dc_status_name(st));
    cJSON_AddStringToObject(o, "message", message);
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddStringToObject(o, "task", ops->name);
    if (r) {
        cJSON_AddNumberToObject(o, "fitness", r->fitness);
        cJSON_AddNumberToObject(o, "test_metric", r->test_metric);
        if (strcmp(ops->test_name, "test_metric") != 0)
            cJSON_AddNumberToObject(o, ops->test_name, r->test_metric);
        cJSON_AddNumberToObject(o, "failed_step", r->failed_step);
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(r->metrics, "per_seed");
        cJSON_AddItemToObject(o, "per_seed", ps ? cJSON_Duplicate(ps, 1) : cJSON_CreateArray());
        cJSON *m = cJSON_Duplicate(r->metrics, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(m, "per_seed");
        dc_metric_group_json(ops->metrics, m, o); // grouped as the task's schema says
        cJSON_AddItemToObject(o, "metrics", m);
    } else {
        cJSON_AddNullToObject(o, "fitness");
        cJSON_AddNullToObject(o, ops->test_name);
        cJSON_AddItemToObject(o, "per_seed", cJSON_CreateArray());
    }
    if (fingerprint && *fingerprint) cJSON_AddStringToObject(o, "fingerprint", fingerprint);
    cJSON_AddBoolToObject(o, "separable", separable);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    cJSON_AddItemToObject(o, "config", ops->config_json(task));
    char *text = cJSON_Print(o);
    char *safe = text ? dc_json_safe(text) : NULL; // valid UTF-8 whatever the names hold
    if (safe) printf("%s\n", safe);
    free(safe);
    free(text);
    cJSON_Delete(o);
}

static void print_summary(const char *file, const dc_task_ops *ops, dc_status st,
                          const char *message, const dc_task_result *r, double seconds)
{
    // the file name and the message (compiler, sandbox) are the candidate's: escaped
    dc_safe_pool sp = {0};
    printf("%s on %s: %s\n", dc_safe(&sp, file, DC_SAFE_LINE), ops->name, exit_word(st));
    if (st != DC_OK) {
        if (r && r->failed_step >= 0) printf("  failed at step %d\n", r->failed_step);
        printf("  %s\n", dc_safe(&sp, message, DC_SAFE_LINE));
    }
    dc_safe_free(&sp);
    if (r && st == DC_OK) {
        printf("  fitness (%s): %.4f\n  %s: %.4f\n", ops->fitness_name, r->fitness, ops->test_name,
               r->test_metric);
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(r->metrics, "per_seed");
        const cJSON *s;
        cJSON_ArrayForEach(s, ps)
        {
            const cJSON *seed = cJSON_GetObjectItem(s, "seed");
            const cJSON *fit = cJSON_GetObjectItem(s, "fitness");
            const cJSON *test = cJSON_GetObjectItem(s, "test_metric");
            const cJSON *loss = cJSON_GetObjectItem(s, "train_loss");
            const cJSON *sec = cJSON_GetObjectItem(s, "seconds");
            printf("  seed %-4d %s %.4f  %s %.4f", seed ? seed->valueint : -1, ops->fitness_name,
                   fit ? fit->valuedouble : 0, ops->test_name, test ? test->valuedouble : 0);
            if (loss) printf("  train_loss %.4f", loss->valuedouble);
            printf("  %.1f s\n", sec ? sec->valuedouble : 0);
        }
        const cJSON *share = cJSON_GetObjectItem(r->metrics, "sandbox_share");
        if (share) printf("  time in the sandbox: %.1f %%\n", 100 * share->valuedouble);
    }
    printf("  %.1f s in all\n", seconds);
}

static void prepare_progress(void *ctx, const char *phase, int step, int total, double loss)
{
    (void)ctx;
    static char last_phase[32];
    static double last_draw;
    int tty = isatty(STDERR_FILENO);
    double now = dc_now();
    if (strcmp(phase, last_phase)) {
        if (tty && last_phase[0]) fputc('\n', stderr);
        snprintf(last_phase, sizeof last_phase, "%s", phase);
        if (!tty) fprintf(stderr, "preparing: %s (%d steps, cached afterwards)\n", phase, total);
    }
    if (tty && (now - last_draw > 0.1 || step == total)) {
        fprintf(stderr, "\r\033[Kpreparing: %s %d/%d loss %.4g%s", phase, step, total, loss,
                step == total ? "\n" : "");
        last_draw = now;
    }
}

int cmd_eval(int argc, char **argv)
{
    const char *file = NULL, *task_name = dc_task_at(0)->name, *seeds_text = "1", *steps = NULL,
               *noise = NULL, *device = NULL;
    double budget = 0; /* --candidate-timeout: none unless given */
    const char *sets[MAX_SETS];
    static char shortcut[MAX_SETS][256];
    int nsets = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--candidate-timeout")) {
            char *end = NULL;
            budget = has_value ? strtod(argv[++i], &end) : 0;
            if (!end || *end || !(budget > 0) || budget > 1e7)
                return cli_usage_error("eval", "--candidate-timeout takes seconds, e.g. 600");
        } else if (!strcmp(a, "--beta") || !strcmp(a, "--gap")) {
            /* Shortcuts for the preference task's options: --set beta=LIST, --set gap=G. */
            if (!has_value) return cli_usage_error("eval", "%s needs a value", a);
            if (nsets == MAX_SETS) return cli_usage_error("eval", "too many task options");
            snprintf(shortcut[nsets], sizeof shortcut[nsets], "%s=%s", a + 2, argv[++i]);
            sets[nsets] = shortcut[nsets];
            nsets++;
        } else if (!strcmp(a, "--task") || !strcmp(a, "--seeds") || !strcmp(a, "--steps") ||
                   !strcmp(a, "--noise") || !strcmp(a, "--set") || !strcmp(a, "--device")) {
            if (!has_value) return cli_usage_error("eval", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--task"))
                task_name = v;
            else if (!strcmp(a, "--seeds"))
                seeds_text = v;
            else if (!strcmp(a, "--steps"))
                steps = v;
            else if (!strcmp(a, "--noise"))
                noise = v;
            else if (!strcmp(a, "--device"))
                device = v;
            else if (nsets == MAX_SETS)
                return cli_usage_error("eval", "more than %d --set flags", MAX_SETS);
            else
                sets[nsets++] = v;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("eval", "unknown option '%s'", a);
        } else if (file) {
            return cli_usage_error("eval", "one objective file at a time ('%s' and '%s')", file, a);
        } else {
            file = a;
        }
    }
    if (!file)
        return cli_usage_error("eval", "which objective? give a C file, e.g. "
                                       "examples/objectives/fashion/cross_entropy.c");
    if (device && strcmp(device, "auto") && strcmp(device, "cpu") && strcmp(device, "cuda"))
        return cli_usage_error("eval", "--device must be auto, cpu or cuda, not '%s'", device);
    const dc_task_ops *ops = dc_task_find(task_name);
    if (!ops)
        return cli_usage_error("eval", "unknown task '%s'; tasks: %s", task_name, dc_task_names());
    // --device is the task option "device"; a task without one runs on the CPU only
    int task_has_device = dc_option_find(ops->options, "device") != NULL;
    if (device && !task_has_device && !strcmp(device, "cuda"))
        return cli_error("eval", "--device cuda: task %s has no GPU backend yet; use --device "
                                 "cpu or auto",
                         ops->name);
    int seeds[MAX_SEEDS];
    char err[1024];
    int nseeds = dc_parse_int_list(seeds_text, seeds, MAX_SEEDS, err, sizeof err);
    if (nseeds < 0) return cli_usage_error("eval", "--seeds: %s", err);

    size_t len = 0;
    char *code = dc_read_source(file, &len, err, sizeof err);
    if (!code) return cli_error("eval", "%s", err);

    int rc = EXIT_USAGE;
    dc_task *task = ops->create();
    sbx_worker *worker = NULL;
    dc_task_result result;
    dc_task_result_init(&result);
    if ((steps && dc_task_apply_option(ops, task, "steps", steps, err, sizeof err)) ||
        (noise && dc_task_apply_option(ops, task, "noise", noise, err, sizeof err)) ||
        (device && task_has_device &&
         dc_task_apply_option(ops, task, "device", device, err, sizeof err))) {
        rc = cli_usage_error("eval", "%s", err);
        goto done;
    }
    for (int i = 0; i < nsets; i++) {
        if (dc_task_apply_assignment(ops, task, sets[i], err, sizeof err)) {
            rc = cli_usage_error("eval", "--set %s: %s", sets[i], err);
            goto done;
        }
    }
    /* Preparing can take minutes the first time (sentiment pretrains and caches its models):
     * say what is happening on stderr. */
    dc_progress prep = {.ctx = NULL, .on_step = prepare_progress, .stop = NULL};
    if (ops->prepare(task, &prep, err, sizeof err)) {
        rc = cli_error("eval", "task %s: %s", ops->name, err);
        goto done;
    }

    double t0 = dc_now();
    char fingerprint[17] = "", msg[1024] = "";
    int separable = 0;
    dc_status st =
        dc_screen(ops, code, len, NULL, &worker, fingerprint, &separable, msg, sizeof msg);
    if (st != DC_OK) {
        if (json)
            print_json(file, ops, task, st, msg, NULL, fingerprint, separable, dc_now() - t0);
        else
            print_summary(file, ops, st, msg, NULL, dc_now() - t0);
        rc = st == DC_ERROR ? EXIT_USAGE : EXIT_REJECTED;
        goto done;
    }

    // Ctrl-C stops training at the next step; a second Ctrl-C kills as usual
    dc_stop_signal_install(&stop_flag);
    progress_state ps = {.tty = isatty(STDERR_FILENO), .nseeds = nseeds, .seeds = seeds};
    dc_progress prog = {.ctx = &ps, .on_step = on_step, .stop = &stop_flag};
    sbx_set_time_budget(worker, budget);
    dc_train_and_score(ops, task, worker, seeds, nseeds, &prog, &result);
    dc_stop_signal_restore();
    if (ps.tty && ps.line_open) fprintf(stderr, "\r\033[K");

    st = result.status;
    if (json)
        print_json(file, ops, task, st, result.message, &result, fingerprint, separable,
                   dc_now() - t0);
    else
        print_summary(file, ops, st, result.message, &result, dc_now() - t0);
    rc = st == DC_OK ? EXIT_OK : st == DC_ERROR ? EXIT_USAGE : EXIT_REJECTED;

done:
    sbx_close(worker);
    dc_task_result_free(&result);
    ops->destroy(task);
    free(code);
    return rc;
}
