#define _GNU_SOURCE
/* cmd_run.c — `discover run`: a discovery campaign. */
#include "cli.h"
#include "run_config.h"
#include "discover/campaign/confirm.h"
#include "discover/campaign/mpi_pool.h"
#include "common/stop_signal.h"

#include "archive/archive.h"
#include "common/safe_text.h"
#include "common/util.h"
#include "inner_loop/task.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void run_help(void)
{
    printf(
        "Usage: discover run --task TASK [OPTIONS]\n\n"
        "Runs a discovery campaign: trains and scores the seed baselines, then asks the\n"
        "proposer for new objectives, screens each in the sandbox, trains and scores it, and\n"
        "archives everything. Ctrl-C stops after recording the candidates in flight as\n"
        "interrupted; --resume continues (also after a crash).\n\n"
        "Campaign:\n"
        "  --task T               the task (default fashion; the list is at the end)\n"
        "  --proposer P           evolve (offline, default), random (evolve's control: fresh\n"
        "                         random genomes), llm, or replay:ARCHIVE\n"
        "  --generations N        proposals after the seed baselines (default 10)\n"
        "  --confirm K            afterwards re-train the K best on fresh seeds (campaign\n"
        "                         seed + 1000, 1001, 1002; see discover confirm) and name the\n"
        "                         winner by mean confirmed fitness\n"
        "  --campaign NAME        campaign name (default TASK-YYYYmmdd-HHMMSS)\n"
        "  --resume               continue the named campaign with its archived settings\n"
        "  --config FILE          settings file (key = value; [task], [llm] and [models]\n"
        "                         (NAME = PRICE_IN, PRICE_OUT) sections);\n"
        "                         flags override it\n"
        "  --archive PATH         archive file (default $DISCOVER_ARCHIVE or ./discover.db)\n"
        "  --seed N               the campaign's random seed (evolve's choices; default 1)\n"
        "  --seeds LIST           training seeds per candidate, e.g. 1,2,3 (default 1)\n"
        "  --baselines LIST       seed objectives from examples/objectives/TASK/ (default:\n"
        "                         dpo,hinge,ipo,kto_pair or cross_entropy,label_smoothing,\n"
        "                         squared_error,focal; evolve writes the same losses in\n"
        "                         its grammar unless --baselines is given)\n"
        "  --replay-campaign C    with replay:ARCHIVE, which campaign to replay\n"
        "Task options:\n"
        "  --set KEY=VALUE        any task option (see 'discover eval --help'); repeatable\n"
        "  --steps N, --noise R, --beta LIST   shortcuts for --set steps=N etc.\n"
        "LLM (proposer llm; key from $DISCOVER_API_KEY or $OPENAI_API_KEY):\n"
        "  --api-base URL         OpenAI-compatible base (default https://api.openai.com/v1)\n"
        "  --model NAME[,NAME...] model (default gpt-4o-mini); several: each call picks one\n"
        "  --model-weights LIST   fixed sampling weights, one per model (default equal)\n"
        "  --model-select ucb|thompson   a bandit instead: reward 1 when the call's\n"
        "                         candidate beat the campaign's best fitness so far, else 0\n"
        "  --model-cost-aware     bandit rewards divided by the call's cost\n"
        "  --temperature T        sampling temperature (default 1)\n"
        "  --max-tokens-per-call N  completion limit per call (default 2048)\n"
        "  --json-mode on|off     ask for a JSON response (default on; falls back if refused)\n"
        "  --connect-timeout S    seconds to connect (default 10)\n"
        "  --timeout S            seconds for one attempt, reply included (default 300)\n"
        "  --retries N            retries after a connection error, timeout, truncated\n"
        "                         reply, 429 or 5xx (default 5); each waits by exponential\n"
        "                         back-off from 1 s with full jitter, or as the server's\n"
        "                         Retry-After says, at most 60 s\n"
        "  --price-in X, --price-out X   price per million prompt/completion tokens\n"
        "                         (lists parallel to --model, or one price for all)\n"
        "  --max-calls N, --max-tokens N, --max-cost X   budgets: stop proposing when reached\n"
        "  --candidate-timeout S  wall-clock budget of one candidate's training and scoring\n"
        "                         (status timeout at the step reached, partial curves kept;\n"
        "                         default 10x the slowest seed baseline, at least 300 s;\n"
        "                         0: none)\n"
        "Parallel (one machine):\n"
        "  --jobs N               evaluations at once, each in its own evaluator process with\n"
        "                         its own sandbox workers (default 1: the sequential loop);\n"
        "                         the cores are divided among them (task option threads =\n"
        "                         cores / N unless given). An evaluator that dies has its\n"
        "                         candidate run again once, then recorded as crash\n"
        "  --jobs-per-device K    evaluators per visible GPU (default 1): evaluator i runs\n"
        "                         on GPU (i / K) mod #GPUs; without --jobs a machine with\n"
        "                         GPUs gets #GPUs x K evaluators (CUDA_VISIBLE_DEVICES\n"
        "                         chooses the GPUs)\n"
        "  --in-flight P          proposals ahead of the results (default N): proposal g sees\n"
        "                         the results of generations up to g - P, so the same seed,\n"
        "                         --jobs and --in-flight give the same campaign; with the llm\n"
        "                         proposer, up to P LLM calls are in flight at once\n"
        "Across machines (MPI; README: Campaigns across machines):\n"
        "  mpirun -np R discover run ...   or   srun ... discover run ...\n"
        "                         rank 0 is the campaign, ranks 1..R-1 its evaluators\n"
        "                         (jobs = R - 1), the same campaign as --jobs R-1; detected\n"
        "                         from OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK\n"
        "  --mpi                  run as an MPI rank under another launcher\n"
        "Islands:\n"
        "  --islands K            sub-populations (default 1: one chronological history).\n"
        "                         Generation g goes to island (g - 1) mod K; its prompt and\n"
        "                         evolve parents are the seed baselines, its own island's\n"
        "                         candidates and the migrants it received\n"
        "  --migrate-every M      generations between migrations (default 10): after every\n"
        "                         M-th generation the best scored candidate of each island\n"
        "                         joins the next island's context (ring)\n"
        "Prompt:\n"
        "  --context full|budgeted   whole chronological history (DiscoPOP) or best-K +\n"
        "                         recent + failures within a token budget\n"
        "  --context-top-k K, --context-recent M, --context-failures F, --context-tokens N\n"
        "  --prompts DIR          prompt templates (default: the built-in prompts/)\n"
        "  --prompt-style S       discover (default: the full rules, hints, a nudge to\n"
        "                         vary) or discopop (DiscoPOP's short system prompt)\n"
        "Output:\n"
        "  --quiet                no progress output\n"
        "  --json                 print a JSON summary on stdout at the end\n\n"
        "Exit status: 0 the campaign ran (finished, budget or interrupted), 1 usage or\n"
        "environment error, 2 the campaign failed.\n");
    printf("\nTasks (--task): %s; 'discover eval --task T --help' lists T's options.\n",
           dc_task_names());
}

/* A flag's settings key: "--api-base" -> "api_base"; shortcuts map to task options. */
static void flag_key(const char *flag, char *key, size_t cap)
{
    static const char *const task_shortcuts[] = {"steps", "noise", "beta", "device", NULL};
    char k[96];
    snprintf(k, sizeof k, "%s", flag + 2);
    for (char *p = k; *p; p++)
        if (*p == '-') *p = '_';
    for (int i = 0; task_shortcuts[i]; i++)
        if (!strcmp(k, task_shortcuts[i])) {
            snprintf(key, cap, "task.%s", k);
            return;
        }
    snprintf(key, cap, "%s", k);
}

/* Applies argv's settings to cfg (pass 2), or only collects the meta flags (pass 1). */
static int apply_flags(const char *cmd, int argc, char **argv, dc_campaign_cfg *cfg, run_flags *rf,
                       int apply)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) return cli_usage_error(cmd, "unexpected argument '%s'", a);
        if (!strcmp(a, "--model-cost-aware")) { /* a switch, archived as model_cost_aware = on */
            char e[256];
            if (apply && dc_campaign_set(cfg, "model_cost_aware", "on", e, sizeof e) != 0)
                return cli_usage_error(cmd, "%s: %s", a, e);
            continue;
        }
        if (!strcmp(a, "--resume")) {
            rf->resume = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            rf->quiet = 1;
            continue;
        }
        if (!strcmp(a, "--json")) {
            rf->json = 1;
            continue;
        }
        if (!strcmp(a, "--confirm")) {
            long k;
            if (i + 1 >= argc || dc_parse_long(argv[i + 1], 1, 1000, &k) != 0)
                return cli_usage_error(cmd, "--confirm needs how many of the best to confirm, "
                                            "a whole number from 1 to 1000 (got '%s')",
                                       i + 1 < argc ? argv[i + 1] : "");
            rf->confirm = (int)k;
            i++;
            continue;
        }
        char name[96];
        const char *val;
        const char *eq = strchr(a, '=');
        if (eq) snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
        else snprintf(name, sizeof name, "%s", a);
        char known[128];
        flag_key(name, known, sizeof known);
        if (strcmp(name, "--config") && strcmp(name, "--set") && !dc_campaign_key_known(known))
            return cli_usage_error(cmd, "unknown option '%s'", name);
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
            val = argv[++i];
        }
        if (!strcmp(name, "--config")) {
            rf->config = val;
            continue;
        }
        if (!apply) continue;
        char key[128], e[512];
        if (!strcmp(name, "--set")) {
            const char *kv = strchr(val, '=');
            if (!kv || kv == val) return cli_usage_error(cmd, "--set takes KEY=VALUE (got '%s')", val);
            snprintf(key, sizeof key, "task.%.*s", (int)(kv - val), val);
            val = kv + 1;
        } else {
            flag_key(name, key, sizeof key);
        }
        if (dc_campaign_set(cfg, key, val, e, sizeof e) != 0)
            return cli_usage_error(cmd, "%s: %s", name, e);
    }
    return 0;
}

/* Builds the configuration: defaults, archived settings (--resume), config file, flags. */
int dc_run_configure(const char *cmd, int argc, char **argv, dc_campaign_cfg *cfg, run_flags *rf)
{
    char e[1024];
    int rc = apply_flags(cmd, argc, argv, cfg, rf, 0);
    if (rc) return rc;
    int islands = 1, migrate_every = 0; /* the resumed campaign's */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (!rf->resume) break;
            /* Start again from the archived settings of the campaign being resumed. */
            char archive_path[4096], name[128];
            snprintf(archive_path, sizeof archive_path, "%s", cfg->archive_path);
            snprintf(name, sizeof name, "%s", cfg->campaign);
            if (!name[0]) return cli_usage_error(cmd, "--resume needs --campaign NAME");
            archive *a = NULL;
            if (archive_open(archive_path, ARC_READONLY, &a, e, sizeof e) != 0)
                return cli_error(cmd, "%s", e);
            arc_campaign c;
            int r = archive_campaign_by_name(a, name, &c, e, sizeof e);
            archive_close(a);
            if (r > 0)
                return cli_error(cmd, "no campaign '%s' to resume in %s ('discover campaigns' lists them)",
                                 name, archive_path);
            if (r < 0) return cli_error(cmd, "%s", e);
            dc_campaign_cfg fresh;
            dc_campaign_cfg_default(&fresh);
            int ar = dc_campaign_apply_settings(&fresh, c.config_json, e, sizeof e);
            arc_campaign_free(&c);
            if (ar != 0) return cli_error(cmd, "campaign '%s': %s", name, e);
            *cfg = fresh;
            islands = fresh.islands;
            migrate_every = fresh.migrate_every;
        }
        if (rf->config && dc_campaign_load(cfg, rf->config, e, sizeof e) != 0)
            return cli_error(cmd, "%s", e);
        rc = apply_flags(cmd, argc, argv, cfg, rf, 1);
        if (rc) return rc;
    }
    /* Its archived candidates already belong to their islands: other islands or another
     * migration period would re-partition that history under the same name. */
    if (rf->resume && (cfg->islands != islands ||
                       (islands > 1 && cfg->migrate_every != migrate_every)))
        return cli_usage_error(cmd,
                               "campaign '%s' runs with --islands %d --migrate-every %d; --resume "
                               "cannot change them (drop those flags, or start a new campaign)",
                               cfg->campaign, islands, migrate_every);
    char note[512];
    if (dc_campaign_resolve_prices(cfg, note, sizeof note, e, sizeof e) != 0)
        return cli_error(cmd, "%s", e);
    if (note[0]) fprintf(stderr, "discover: note: %s\n", note);
    cfg->resume = rf->resume;
    cfg->quiet = rf->quiet;
    return 0;
}

int dc_run_report(const dc_campaign_cfg *cfg, const dc_campaign_summary *s, int json,
                  const arc_confirmed *winner)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "campaign", s->campaign);
        cJSON_AddStringToObject(o, "archive", cfg->archive_path);
        cJSON_AddStringToObject(o, "status", s->status);
        cJSON_AddStringToObject(o, "note", s->note);
        cJSON_AddNumberToObject(o, "candidates", s->candidates);
        if (s->best_id) {
            cJSON_AddNumberToObject(o, "best_id", (double)s->best_id);
            cJSON_AddStringToObject(o, "best_name", s->best_name);
            cJSON_AddNumberToObject(o, "best_fitness", s->best_fitness);
            cJSON_AddNumberToObject(o, "best_test_metric", s->best_test);
        }
        if (winner) {
            cJSON_AddNumberToObject(o, "winner_id", (double)winner->candidate_id);
            cJSON_AddStringToObject(o, "winner_name", winner->name);
            cJSON_AddNumberToObject(o, "winner_search_fitness", winner->search_fitness);
            cJSON_AddNumberToObject(o, "winner_confirmed_fitness", winner->fitness);
            cJSON_AddNumberToObject(o, "winner_confirmed_n", winner->n);
            cJSON_AddNumberToObject(o, "winner_test_metric", winner->test_metric);
        }
        char *t = cJSON_Print(o);
        char *safe = t ? dc_json_safe(t) : NULL; // valid UTF-8 whatever the names hold
        if (safe) printf("%s\n", safe);
        free(safe);
        cJSON_free(t);
        cJSON_Delete(o);
    } else {
        // names come from the user and the proposer, the note may quote an LLM: escaped
        dc_safe_pool sp = {0};
        const char *camp = dc_safe(&sp, s->campaign, DC_SAFE_LINE);
        const char *path = dc_safe(&sp, cfg->archive_path, DC_SAFE_LINE);
        fprintf(stderr, "\ncampaign '%s' %s: %d candidate%s evaluated in this run.\n", camp,
                s->status, s->candidates, s->candidates == 1 ? "" : "s");
        if (s->note[0]) fprintf(stderr, "%s\n", dc_safe(&sp, s->note, DC_SAFE_LINE));
        if (s->best_id)
            fprintf(stderr, "best in the campaign: #%lld '%s' fitness %.4f, held-out test %.4f\n",
                    (long long)s->best_id, dc_safe(&sp, s->best_name, DC_SAFE_LINE),
                    s->best_fitness, s->best_test);
        if (winner)
            fprintf(stderr,
                    "winner by confirmed fitness: #%lld '%s' %.4f over %d fresh seed%s (search "
                    "fitness %.4f, held-out test %.4f)\n",
                    (long long)winner->candidate_id, dc_safe(&sp, winner->name, DC_SAFE_LINE),
                    winner->fitness, winner->n, winner->n == 1 ? "" : "s",
                    winner->search_fitness, winner->test_metric);
        fprintf(stderr,
                "inspect it: discover ls --archive %s --campaign %s --top 10\n"
                "            discover show ID --archive %s\n",
                path, camp, path);
        dc_safe_free(&sp);
    }
    return !strcmp(s->status, "failed") ? EXIT_REJECTED : EXIT_OK;
}

/* run --confirm K: the finished campaign's top K on the default fresh seeds
 * (confirm.h), then the summary with the winner by confirmed fitness. */
static int confirm_and_report(const dc_campaign_cfg *cfg, const dc_campaign_summary *sum,
                              const run_flags *rf)
{
    char e[1024];
    if (dc_confirm_campaign(cfg->archive_path, sum->campaign, rf->confirm, NULL, 0, rf->quiet, e,
                            sizeof e) != 0) {
        dc_run_report(cfg, sum, rf->json, NULL);
        return cli_error("run", "--confirm: %s", e);
    }
    archive *a = NULL;
    arc_confirmed *cs = NULL;
    int n = 0;
    if (archive_open(cfg->archive_path, ARC_READONLY, &a, e, sizeof e) != 0 ||
        archive_confirmed_list(a, sum->campaign_id, &cs, &n, e, sizeof e) != 0) {
        archive_close(a);
        dc_run_report(cfg, sum, rf->json, NULL);
        return cli_error("run", "--confirm: %s", e);
    }
    archive_close(a);
    int rc = dc_run_report(cfg, sum, rf->json, n > 0 && cs[0].n > 0 ? &cs[0] : NULL);
    for (int i = 0; i < n; i++)
        arc_confirmed_free(&cs[i]);
    free(cs);
    return rc;
}

/* A new campaign without --jobs on a machine with GPUs: one evaluator per GPU (times
 * --jobs-per-device); a resumed one keeps its archived --jobs. (Not under MPI, where the
 * ranks are the evaluators.) */
static void gpu_default_jobs(dc_campaign_cfg *cfg, const run_flags *rf)
{
    if (rf->resume || cfg->jobs_set) return;
    char gpus[DC_MAX_GPUS][64];
    int n = dc_campaign_gpus(cfg, gpus, DC_MAX_GPUS);
    if (n * cfg->jobs_per_device <= 1) return;
    cfg->jobs = n * cfg->jobs_per_device;
    if (!rf->quiet)
        fprintf(stderr,
                "discover: note: %d GPU%s visible: --jobs %d (%d evaluator%s per GPU); pass "
                "--jobs N to choose\n",
                n, n > 1 ? "s" : "", cfg->jobs, cfg->jobs_per_device,
                cfg->jobs_per_device > 1 ? "s" : "");
}

/* The campaign of this process; under MPI (mpi_size > 1) this is rank 0 and its
 * evaluators are the other ranks (jobs = mpi_size - 1). */
static int run_campaign(int argc, char **argv, int mpi_size)
{
    dc_campaign_cfg cfg;
    dc_campaign_cfg_default(&cfg);
    run_flags rf = {0};
    int rc = dc_run_configure("run", argc, argv, &cfg, &rf);
    if (rc) return rc;
    if (mpi_size <= 1) gpu_default_jobs(&cfg, &rf);
    if (mpi_size > 1) {
        int given = 0;
        for (int i = 1; i < argc; i++)
            given |= !strcmp(argv[i], "--jobs");
        if (mpi_size - 1 > 256)
            return cli_usage_error("run", "%d MPI ranks: at most 257 (256 evaluators)", mpi_size);
        if (given && cfg.jobs != mpi_size - 1)
            return cli_usage_error("run",
                                   "--jobs %d with %d MPI ranks: under MPI every rank but rank 0 "
                                   "is an evaluator (jobs = %d); drop --jobs or start %d ranks",
                                   cfg.jobs, mpi_size, mpi_size - 1, cfg.jobs + 1);
        cfg.jobs = mpi_size - 1;
        if (!cfg.campaign[0]) { /* named now, so the message for a lost rank can name it */
            char ts[32];
            time_t t = time(NULL);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
            snprintf(cfg.campaign, sizeof cfg.campaign, "%s-%s", cfg.task, ts);
        }
    }
    static volatile sig_atomic_t stop;
    dc_stop_signal_install(&stop);
    if (mpi_size > 1) {
        char hint[1200];
        dc_fmt(hint, sizeof hint,
               "Nothing archived is lost and the candidates in flight stay pending: 'discover "
               "run --campaign %s --archive %s --resume' continues the campaign (under "
               "mpirun/srun again, or with --jobs N on one machine)",
               cfg.campaign, cfg.archive_path);
        dc_mpi_on_term(hint);
    }
    dc_campaign_summary sum;
    char err[1024];
    int failed = dc_campaign_run(&cfg, &stop, &sum, err, sizeof err) != 0;
    dc_mpi_finish(); /* the evaluator ranks end with the campaign, before any --confirm */
    if (failed) {
        fputs("discover run: ", stderr);
        dc_safe_fputs(err, DC_SAFE_BLOCK, stderr);
        fputc('\n', stderr);
        return sum.campaign_id ? EXIT_REJECTED : EXIT_USAGE;
    }
    /* An interrupted or failed campaign is not over: confirm it once it is (discover confirm). */
    if (!rf.confirm || (strcmp(sum.status, "finished") && strcmp(sum.status, "budget")))
        return dc_run_report(&cfg, &sum, rf.json, NULL);
    return confirm_and_report(&cfg, &sum, &rf);
}

int cmd_run(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            run_help();
            return EXIT_OK;
        }
    /* --mpi: under a launcher that sets none of the variables dc_mpi_launcher knows */
    int force = 0, n = 0;
    char **args = dc_calloc((size_t)argc + 1, sizeof *args);
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--mpi"))
            force = 1;
        else
            args[n++] = argv[i];
    }
    char launcher[160];
    int rc;
    if (force || dc_mpi_launcher(launcher, sizeof launcher)) {
        if (force) snprintf(launcher, sizeof launcher, "--mpi");
        if (!dc_mpi_built()) {
            /* every rank would say it: rank 0 does */
            if (dc_mpi_env_rank() == 0)
                cli_error("run",
                          "started as one of several MPI ranks (%s), but this discover was built "
                          "without MPI: install libopenmpi-dev (Debian) and build again (CMake "
                          "finds it), or run it without mpirun/srun (--jobs N uses the cores of "
                          "one machine)",
                          launcher);
            free(args);
            return EXIT_USAGE;
        }
        int rank = 0, size = 1;
        char e[512];
        if (dc_mpi_start(&rank, &size, e, sizeof e) != 0) {
            free(args);
            return cli_error("run", "under MPI (%s): %s", launcher, e);
        }
        if (rank > 0) {
            rc = dc_mpi_serve(); /* an evaluator rank: its settings come from rank 0 */
        } else {
            rc = run_campaign(n, args, size);
            dc_mpi_finish();
        }
    } else {
        rc = run_campaign(n, args, 0);
    }
    free(args);
    return rc;
}
