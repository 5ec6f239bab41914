/* campaign_settings.c — a campaign's configuration as reversible key/value settings.
 *
 * The archive keeps them with the campaign so `--resume` continues with exactly the
 * configuration the campaign started with (flags given on resume still override). */
#include "campaign.h"

#include "common/util.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

static void add(cJSON *arr, const char *k, const char *v)
{
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateString(k));
    cJSON_AddItemToArray(pair, cJSON_CreateString(v));
    cJSON_AddItemToArray(arr, pair);
}

static void addf(cJSON *arr, const char *k, const char *fmt, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    add(arr, k, buf);
}

cJSON *dc_campaign_settings_json(const dc_campaign_cfg *c)
{
    cJSON *a = cJSON_CreateArray();
    add(a, "task", c->task);
    add(a, "proposer", c->proposer);
    if (c->replay_campaign[0]) add(a, "replay_campaign", c->replay_campaign);
    addf(a, "generations", "%.0f", c->generations);
    addf(a, "seed", "%.0f", (double)c->seed);
    dc_sb seeds = {0};
    for (int i = 0; i < c->nseeds; i++) dc_sb_printf(&seeds, "%s%d", i ? "," : "", c->seeds[i]);
    add(a, "seeds", seeds.data ? seeds.data : "1");
    dc_sb_free(&seeds);
    if (c->baselines[0]) add(a, "baselines", c->baselines);
    add(a, "context", c->context.strategy == DC_CONTEXT_FULL ? "full" : "budgeted");
    addf(a, "context_top_k", "%.0f", c->context.top_k);
    addf(a, "context_recent", "%.0f", c->context.recent);
    addf(a, "context_failures", "%.0f", c->context.failures);
    addf(a, "context_tokens", "%.0f", c->context.token_budget);
    if (c->prompts_dir[0]) add(a, "prompts", c->prompts_dir);
    if (c->prompt_style[0]) add(a, "prompt_style", c->prompt_style);
    add(a, "api_base", c->api_base);
    add(a, "model", c->model);
    /* only when set: a one-model campaign's archived settings stay as they were */
    if (c->model_weights[0]) add(a, "model_weights", c->model_weights);
    if (c->model_select[0]) add(a, "model_select", c->model_select);
    if (c->model_cost_aware) add(a, "model_cost_aware", "on");
    addf(a, "temperature", "%.17g", c->llm.temperature);
    addf(a, "max_tokens_per_call", "%.0f", c->llm.max_tokens);
    add(a, "json_mode", c->llm.json_mode ? "on" : "off");
    addf(a, "connect_timeout", "%.17g", c->llm.connect_timeout_s);
    addf(a, "timeout", "%.17g", c->llm.total_timeout_s);
    addf(a, "retries", "%.0f", c->llm.max_retries);
    if (c->price_in[0]) add(a, "price_in", c->price_in);
    else addf(a, "price_in", "%.17g", c->llm.price_in_per_mtok);
    if (c->price_out[0]) add(a, "price_out", c->price_out);
    else addf(a, "price_out", "%.17g", c->llm.price_out_per_mtok);
    addf(a, "max_calls", "%.0f", c->max_calls);
    addf(a, "max_tokens", "%.0f", (double)c->max_tokens);
    addf(a, "max_cost", "%.17g", c->max_cost);
    if (c->candidate_timeout_s >= 0) addf(a, "candidate_timeout", "%.17g", c->candidate_timeout_s);
    /* only when set: a sequential campaign's archived settings stay as they were */
    if (c->jobs != 1) addf(a, "jobs", "%.0f", c->jobs);
    if (c->in_flight > 0) addf(a, "in_flight", "%.0f", c->in_flight);
    if (c->jobs_per_device != 1) addf(a, "jobs_per_device", "%.0f", c->jobs_per_device);
    if (c->islands != 1) {
        addf(a, "islands", "%.0f", c->islands);
        addf(a, "migrate_every", "%.0f", c->migrate_every);
    }
    for (int i = 0; i < c->ntask_opts; i++) {
        char k[80];
        snprintf(k, sizeof k, "task.%s", c->task_keys[i]);
        add(a, k, c->task_vals[i]);
    }
    return a;
}

int dc_campaign_apply_settings(dc_campaign_cfg *c, const char *config_json, char *err,
                               size_t errcap)
{
    cJSON *root = cJSON_Parse(config_json ? config_json : "");
    cJSON *settings = root ? cJSON_GetObjectItemCaseSensitive(root, "settings") : NULL;
    if (!cJSON_IsArray(settings)) {
        dc_fmt(err, errcap, "the archived campaign configuration has no settings list");
        cJSON_Delete(root);
        return -1;
    }
    cJSON *pair;
    cJSON_ArrayForEach(pair, settings)
    {
        cJSON *k = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
        if (!cJSON_IsString(k) || !cJSON_IsString(v)) continue;
        char e[512];
        if (dc_campaign_set(c, k->valuestring, v->valuestring, e, sizeof e) != 0) {
            dc_fmt(err, errcap, "archived setting %s: %s", k->valuestring, e);
            cJSON_Delete(root);
            return -1;
        }
    }
    cJSON_Delete(root);
    return 0;
}
