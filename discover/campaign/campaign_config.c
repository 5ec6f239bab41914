#define _GNU_SOURCE
/* campaign_config.c — campaign configuration: defaults, `key = value` files, flags.
 *
 * One setter serves the config file and the command line, so every key documented for
 * the file is also a flag and the error messages are the same. */
#include "campaign.h"

#include "common/util.h"
#include "discover/propose/llm/model_select.h"
#include "inner_loop/backend.h"
#include "inner_loop/task.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dc_campaign_cfg_default(dc_campaign_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->task, sizeof c->task, "%s", dc_task_at(0)->name); // the registry's first
    snprintf(c->proposer, sizeof c->proposer, "evolve");
    snprintf(c->archive_path, sizeof c->archive_path, "%s", archive_default_path());
    c->generations = 10;
    c->seed = 1;
    c->seeds[0] = 1;
    c->nseeds = 1;
    c->candidate_timeout_s = -1;
    c->jobs = 1;
    c->jobs_per_device = 1;
    c->islands = 1;
    c->migrate_every = 10;
    dc_context_default(&c->context);
    llm_config_default(&c->llm);
    snprintf(c->api_base, sizeof c->api_base, "https://api.openai.com/v1");
    snprintf(c->model, sizeof c->model, "gpt-4o-mini");
}

#define INT_KEY(name, field, lo, hi)                                                         \
    if (!strcmp(key, name)) {                                                                \
        long x;                                                                              \
        if (dc_parse_long(value, lo, hi, &x) != 0) {                                            \
            dc_fmt(err, errcap, "%s must be a whole number from %ld to %ld (got '%s')", name, \
                   (long)(lo), (long)(hi), value);                                           \
            return -1;                                                                       \
        }                                                                                    \
        field = x;                                                                           \
        return 0;                                                                            \
    }

#define DBL_KEY(name, field, lo, hi)                                                         \
    if (!strcmp(key, name)) {                                                                \
        double x;                                                                            \
        if (dc_parse_double(value, lo, hi, &x) != 0) {                                             \
            dc_fmt(err, errcap, "%s must be a number from %g to %g (got '%s')", name,        \
                   (double)(lo), (double)(hi), value);                                       \
            return -1;                                                                       \
        }                                                                                    \
        field = x;                                                                           \
        return 0;                                                                            \
    }

/* A price list ("0.15" or one per model, "0.15,3"): kept as text for the model selector;
 * its highest price is the llm_config's (the one model's, and for the max_cost warning,
 * which must not fire when only the first model is free). */
static int set_prices(char *dst, size_t cap, double *top, const char *key, const char *value,
                      char *err, size_t errcap)
{
    double p[DC_MSEL_MAX];
    char e[256];
    int n = dc_parse_double_list(value, p, DC_MSEL_MAX, e, sizeof e);
    if (n < 0) {
        dc_fmt(err, errcap, "%s: %s", key, e);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!(p[i] >= 0 && p[i] <= 1e6)) {
            dc_fmt(err, errcap, "%s: %g is not a price from 0 to 1e6 (per million tokens)", key, p[i]);
            return -1;
        }
    if (strlen(value) >= cap) {
        dc_fmt(err, errcap, "%s: the list is longer than %zu characters", key, cap - 1);
        return -1;
    }
    snprintf(dst, cap, "%s", value);
    *top = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > *top) *top = p[i];
    return 0;
}

#define STR_KEY(name, field)                                                                 \
    if (!strcmp(key, name)) {                                                                \
        if (strlen(value) >= sizeof(field)) {                                                \
            dc_fmt(err, errcap, "%s is too long (at most %zu characters)", name,             \
                   sizeof(field) - 1);                                                       \
            return -1;                                                                       \
        }                                                                                    \
        snprintf(field, sizeof(field), "%s", value);                                         \
        return 0;                                                                            \
    }

int dc_campaign_set(dc_campaign_cfg *c, const char *key, const char *value, char *err,
                    size_t errcap)
{
    if (!strncmp(key, "task.", 5)) {
        if (c->ntask_opts >= DC_MAX_TASK_OPTIONS) {
            dc_fmt(err, errcap, "too many task options (at most %d)", DC_MAX_TASK_OPTIONS);
            return -1;
        }
        if (strlen(key + 5) >= sizeof c->task_keys[0] || strlen(value) >= sizeof c->task_vals[0]) {
            dc_fmt(err, errcap, "task option '%s' is too long", key + 5);
            return -1;
        }
        snprintf(c->task_keys[c->ntask_opts], sizeof c->task_keys[0], "%s", key + 5);
        snprintf(c->task_vals[c->ntask_opts], sizeof c->task_vals[0], "%s", value);
        c->task_origin[c->ntask_opts][0] = '\0';
        c->ntask_opts++;
        return 0;
    }
    if (!strcmp(key, "task")) {
        if (!dc_task_find(value)) {
            dc_fmt(err, errcap, "unknown task '%s' (tasks: %s)", value, dc_task_names());
            return -1;
        }
        snprintf(c->task, sizeof c->task, "%s", value);
        return 0;
    }
    if (!strcmp(key, "proposer")) {
        if (strcmp(value, "llm") && strcmp(value, "evolve") && strcmp(value, "random") &&
            strncmp(value, "replay:", 7)) {
            dc_fmt(err, errcap, "proposer must be llm, evolve, random or replay:ARCHIVE (got '%s')",
                   value);
            return -1;
        }
        snprintf(c->proposer, sizeof c->proposer, "%s", value);
        return 0;
    }
    if (!strcmp(key, "seeds")) {
        char e[256];
        int n = dc_parse_int_list(value, c->seeds, DC_MAX_SEEDS, e, sizeof e);
        if (n <= 0) {
            dc_fmt(err, errcap, "seeds: %s", n == 0 ? "give at least one seed, e.g. 1,2,3" : e);
            return -1;
        }
        c->nseeds = n;
        return 0;
    }
    if (!strcmp(key, "seed")) {
        long x;
        if (dc_parse_long(value, 0, 2147483647L, &x) != 0) {
            dc_fmt(err, errcap, "seed must be a whole number >= 0 (got '%s')", value);
            return -1;
        }
        c->seed = (uint64_t)x;
        return 0;
    }
    if (!strcmp(key, "context")) {
        if (dc_context_parse(value, &c->context.strategy) != 0) {
            dc_fmt(err, errcap, "context must be full or budgeted (got '%s')", value);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "json_mode")) {
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "on")) c->llm.json_mode = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "off")) c->llm.json_mode = 0;
        else {
            dc_fmt(err, errcap, "json_mode must be on or off (got '%s')", value);
            return -1;
        }
        return 0;
    }
    STR_KEY("replay_campaign", c->replay_campaign)
    STR_KEY("campaign", c->campaign)
    STR_KEY("archive", c->archive_path)
    STR_KEY("baselines", c->baselines)
    STR_KEY("prompts", c->prompts_dir)
    STR_KEY("api_base", c->api_base)
    STR_KEY("model", c->model)
    INT_KEY("generations", c->generations, 0, 100000)
    INT_KEY("context_top_k", c->context.top_k, 1, 1000)
    INT_KEY("context_recent", c->context.recent, 0, 1000)
    INT_KEY("context_failures", c->context.failures, 0, 1000)
    INT_KEY("context_tokens", c->context.token_budget, 200, 10000000)
    DBL_KEY("temperature", c->llm.temperature, 0, 2)
    INT_KEY("max_tokens_per_call", c->llm.max_tokens, 0, 1000000)
    DBL_KEY("connect_timeout", c->llm.connect_timeout_s, 0.1, 600)
    DBL_KEY("timeout", c->llm.total_timeout_s, 0.1, 36000)
    INT_KEY("retries", c->llm.max_retries, 0, 100)
    if (!strcmp(key, "price_in")) return set_prices(c->price_in, sizeof c->price_in,
                                                    &c->llm.price_in_per_mtok, key, value, err, errcap);
    if (!strcmp(key, "price_out")) return set_prices(c->price_out, sizeof c->price_out,
                                                     &c->llm.price_out_per_mtok, key, value, err, errcap);
    if (!strcmp(key, "model_weights")) {
        double w[DC_MSEL_MAX];
        char e[256];
        int n = *value ? dc_parse_double_list(value, w, DC_MSEL_MAX, e, sizeof e) : 0;
        for (int i = 0; i < n; i++)
            if (!(w[i] >= 0)) {
                dc_fmt(err, errcap, "model_weights: %g is negative; weights are >= 0", w[i]);
                return -1;
            }
        if (n < 0) {
            dc_fmt(err, errcap, "model_weights: %s", e);
            return -1;
        }
    }
    STR_KEY("model_weights", c->model_weights)
    if (!strcmp(key, "model_select") && *value && strcmp(value, "weights") &&
        strcmp(value, "ucb") && strcmp(value, "thompson")) {
        dc_fmt(err, errcap, "model_select must be weights, ucb or thompson (got '%s')", value);
        return -1;
    }
    STR_KEY("model_select", c->model_select)
    if (!strcmp(key, "prompt_style") && *value && strcmp(value, "discover") &&
        strcmp(value, "discopop")) {
        dc_fmt(err, errcap, "prompt_style must be discover or discopop (got '%s')", value);
        return -1;
    }
    STR_KEY("prompt_style", c->prompt_style)
    if (!strcmp(key, "model_cost_aware")) {
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "on")) c->model_cost_aware = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "off")) c->model_cost_aware = 0;
        else {
            dc_fmt(err, errcap, "model_cost_aware must be on or off (got '%s')", value);
            return -1;
        }
        return 0;
    }
    INT_KEY("max_calls", c->max_calls, 0, 100000000)
    INT_KEY("max_tokens", c->max_tokens, 0, 9000000000000000000LL)
    DBL_KEY("max_cost", c->max_cost, 0, 1e12)
    DBL_KEY("candidate_timeout", c->candidate_timeout_s, 0, 1e7)
    if (!strcmp(key, "jobs")) c->jobs_set = 1;
    INT_KEY("jobs", c->jobs, 1, 256)
    INT_KEY("jobs_per_device", c->jobs_per_device, 1, 64)
    INT_KEY("in_flight", c->in_flight, 0, 1024)
    INT_KEY("islands", c->islands, 1, 1024)
    INT_KEY("migrate_every", c->migrate_every, 1, 100000)
    dc_fmt(err, errcap,
           "unknown setting '%s' (see 'discover run --help'; task options are written task.KEY or "
           "under [task])",
           key);
    return -1;
}

int dc_campaign_key_known(const char *key)
{
    static const char *const keys[] = {
        "task", "proposer", "replay_campaign", "campaign", "archive", "generations", "seed",
        "seeds", "baselines", "context", "context_top_k", "context_recent", "context_failures",
        "context_tokens", "prompts", "prompt_style", "api_base", "model", "model_weights", "model_select",
        "model_cost_aware", "temperature", "max_tokens_per_call",
        "json_mode", "connect_timeout", "timeout", "retries", "price_in", "price_out",
        "max_calls", "max_tokens", "max_cost", "candidate_timeout", "jobs", "jobs_per_device", "in_flight",
        "islands", "migrate_every", NULL};
    if (!strncmp(key, "task.", 5)) return key[5] != '\0';
    for (int i = 0; keys[i]; i++)
        if (!strcmp(keys[i], key)) return 1;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* One line of [models]: NAME = PRICE_IN, PRICE_OUT (US dollars, or any currency, per
 * million prompt and completion tokens). A later line for the same model replaces it. */
static int set_model_price(dc_campaign_cfg *c, const char *name, const char *value, char *err,
                           size_t errcap)
{
    if (!*name || strlen(name) >= sizeof c->model_price_name[0] || strchr(name, ',')) {
        dc_fmt(err, errcap, "'%s' is not a model name (one name per line, without commas)", name);
        return -1;
    }
    double p[3];
    char e[256], compact[256];
    size_t k = 0;
    for (const char *v = value; *v && k + 1 < sizeof compact; v++)
        if (!isspace((unsigned char)*v)) compact[k++] = *v;
    compact[k] = '\0';
    int n = dc_parse_double_list(compact, p, 3, e, sizeof e);
    if (n != 2 || !(p[0] >= 0) || !(p[1] >= 0)) {
        dc_fmt(err, errcap,
               "model %s: expected 'PRICE_IN, PRICE_OUT' (two numbers >= 0, per million "
               "tokens), got '%s'",
               name, value);
        return -1;
    }
    int i = 0;
    while (i < c->nmodel_prices && strcmp(c->model_price_name[i], name)) i++;
    if (i == c->nmodel_prices) {
        if (c->nmodel_prices == (int)(sizeof c->model_price_in / sizeof c->model_price_in[0])) {
            dc_fmt(err, errcap, "at most %d models", c->nmodel_prices);
            return -1;
        }
        c->nmodel_prices++;
    }
    snprintf(c->model_price_name[i], sizeof c->model_price_name[i], "%s", name);
    c->model_price_in[i] = p[0];
    c->model_price_out[i] = p[1];
    return 0;
}

/* x as the shortest of %.15g and %.17g that reads back as x. */
static void append_number(dc_sb *sb, const char *sep, double x)
{
    char b[64];
    snprintf(b, sizeof b, "%.15g", x);
    if (strtod(b, NULL) != x) snprintf(b, sizeof b, "%.17g", x);
    dc_sb_printf(sb, "%s%s", sep, b);
}

int dc_campaign_resolve_prices(dc_campaign_cfg *c, char *note, size_t notecap, char *err,
                               size_t errcap)
{
    note[0] = '\0';
    if (c->nmodel_prices == 0 || c->price_in[0] || c->price_out[0]) return 0;
    dc_sb in = {0}, out = {0}, unknown = {0};
    char list[sizeof c->model];
    snprintf(list, sizeof list, "%s", c->model);
    int k = 0;
    for (char *save = NULL, *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save), k++) {
        m = trim(m);
        int i = 0;
        while (i < c->nmodel_prices && strcmp(c->model_price_name[i], m)) i++;
        double pi = i < c->nmodel_prices ? c->model_price_in[i] : 0;
        double po = i < c->nmodel_prices ? c->model_price_out[i] : 0;
        if (i == c->nmodel_prices) dc_sb_printf(&unknown, "%s%s", unknown.len ? ", " : "", m);
        append_number(&in, k ? "," : "", pi);
        append_number(&out, k ? "," : "", po);
    }
    int rc = 0;
    if (in.len >= sizeof c->price_in || out.len >= sizeof c->price_out) {
        dc_fmt(err, errcap, "the prices of [models] for %d models do not fit (%zu characters)", k,
               sizeof c->price_in);
        rc = -1;
    } else if (k > 0) {
        char e[256];
        rc = dc_campaign_set(c, "price_in", in.data, e, sizeof e);
        if (rc == 0) rc = dc_campaign_set(c, "price_out", out.data, e, sizeof e);
        if (rc != 0) dc_fmt(err, errcap, "[models]: %s", e);
    }
    if (rc == 0 && unknown.len)
        dc_fmt(note, notecap,
               "[models] gives no price for %s: its calls count as costing 0", unknown.data);
    dc_sb_free(&in);
    dc_sb_free(&out);
    dc_sb_free(&unknown);
    return rc;
}

int dc_campaign_load(dc_campaign_cfg *c, const char *path, char *err, size_t errcap)
{
    char e[512];
    char *text = dc_read_file(path, 1 << 20, NULL, e, sizeof e);
    if (!text) {
        dc_fmt(err, errcap, "config file: %s", e);
        return -1;
    }
    char section[32] = "";
    int lineno = 0, rc = 0;
    /* Lines split by hand (strtok would skip blank lines and misnumber errors). */
    for (char *line = text, *next; line && rc == 0; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        /* '#' starts a comment outside double quotes. */
        int quoted = 0;
        for (char *c = line; *c; c++) {
            if (*c == '"') quoted = !quoted;
            else if (*c == '#' && !quoted) {
                *c = '\0';
                break;
            }
        }
        char *s = trim(line);
        if (!*s) continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1]) {
                dc_fmt(err, errcap, "%s:%d: malformed section header '%s' (use [campaign], [task], [llm] or [models])",
                       path, lineno, s);
                rc = -1;
                break;
            }
            *close = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            if (strcmp(section, "task") && strcmp(section, "llm") && strcmp(section, "campaign") &&
                strcmp(section, "models")) {
                dc_fmt(err, errcap,
                       "%s:%d: unknown section [%s] (use [campaign], [task], [llm] or [models])",
                       path, lineno, section);
                rc = -1;
                break;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            dc_fmt(err, errcap, "%s:%d: expected 'key = value', got '%s'", path, lineno, s);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        /* Values may be quoted to keep leading/trailing spaces or a '#'. */
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        if (!strcmp(section, "models")) {
            if (set_model_price(c, key, val, e, sizeof e) != 0) {
                dc_fmt(err, errcap, "%s:%d: [models]: %s", path, lineno, e);
                rc = -1;
                break;
            }
            continue;
        }
        char full[128];
        if (!strcmp(section, "task"))
            snprintf(full, sizeof full, "task.%s", key);
        else
            snprintf(full, sizeof full, "%s", key);
        if (dc_campaign_set(c, full, val, e, sizeof e) != 0) {
            dc_fmt(err, errcap, "%s:%d: %s", path, lineno, e);
            rc = -1;
            break;
        }
        /* Task options are checked by the task later: remember where each came from. */
        if (!strncmp(full, "task.", 5))
            snprintf(c->task_origin[c->ntask_opts - 1], sizeof c->task_origin[0], "%s:%d",
                     path, lineno);
    }
    free(text);
    return rc;
}

int dc_campaign_gpus(const dc_campaign_cfg *c, char ids[][64], int cap)
{
    const dc_task_ops *ops = dc_task_find(c->task);
    if (!ops || !dc_option_find(ops->options, "device")) return 0;
    const char *device = "auto";
    for (int i = 0; i < c->ntask_opts; i++)
        if (!strcmp(c->task_keys[i], "device")) device = c->task_vals[i];
    return strcmp(device, "cpu") ? dc_visible_gpus(ids, cap) : 0;
}
