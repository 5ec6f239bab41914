/* archive_json.c — records to cJSON objects (see archive_json.h). */
#include "archive_json.h"

#include "common/util.h"

#include <math.h>

void arc_json_add_number(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

/* Stored JSON text embedded as JSON; a string when it does not parse (old or hand-edited
 * rows must still print). */
static void add_embedded(cJSON *o, const char *key, const char *text)
{
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    if (j)
        cJSON_AddItemToObject(o, key, j);
    else
        cJSON_AddStringToObject(o, key, text ? text : "");
}

static void add_str(cJSON *o, const char *key, const char *s)
{
    cJSON_AddStringToObject(o, key, s ? s : "");
}

cJSON *arc_candidate_json(const arc_candidate *c, int with_code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)c->id);
    cJSON_AddNumberToObject(o, "campaign_id", (double)c->campaign_id);
    cJSON_AddNumberToObject(o, "generation", c->generation);
    cJSON_AddNumberToObject(o, "island", c->island);
    add_str(o, "name", c->name);
    add_str(o, "status", c->status);
    add_str(o, "message", c->message);
    arc_json_add_number(o, "fitness", c->has_fitness ? c->fitness : NAN);
    arc_json_add_number(o, "test_metric", c->has_fitness ? c->test_metric : NAN);
    arc_json_add_number(o, "seconds", c->seconds);
    add_embedded(o, "parents", c->parents_json);
    add_embedded(o, "metrics", c->metrics_json);
    add_str(o, "code_hash", c->code_hash);
    add_str(o, "fingerprint", c->fingerprint);
    if (c->duplicate_of)
        cJSON_AddNumberToObject(o, "duplicate_of", (double)c->duplicate_of);
    else
        cJSON_AddNullToObject(o, "duplicate_of");
    if (c->llm_call_id)
        cJSON_AddNumberToObject(o, "llm_call_id", (double)c->llm_call_id);
    else
        cJSON_AddNullToObject(o, "llm_call_id");
    add_str(o, "created_at", c->created_at);
    /* where and when it was evaluated: null when not recorded (see arc_candidate) */
    double t0;
    if (c->evaluator >= 0 && dc_utc_parse(c->eval_started_at, &t0) == 0) {
        char fin[40];
        dc_utc_iso_at(t0 + (isfinite(c->seconds) ? c->seconds : 0), fin, sizeof fin);
        cJSON_AddNumberToObject(o, "evaluator", c->evaluator);
        add_str(o, "eval_started_at", c->eval_started_at);
        add_str(o, "eval_finished_at", fin);
    } else {
        cJSON_AddNullToObject(o, "evaluator");
        cJSON_AddNullToObject(o, "eval_started_at");
        cJSON_AddNullToObject(o, "eval_finished_at");
    }
    if (with_code) {
        if (c->thought) add_str(o, "thought", c->thought);
        if (c->code) add_str(o, "code", c->code);
    }
    return o;
}

cJSON *arc_campaign_json(const arc_campaign *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)c->id);
    add_str(o, "name", c->name);
    add_str(o, "task", c->task);
    add_str(o, "proposer", c->proposer);
    add_str(o, "model", c->model);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    add_str(o, "status", c->status);
    add_str(o, "created_at", c->created_at);
    add_str(o, "updated_at", c->updated_at);
    add_embedded(o, "config", c->config_json);
    return o;
}

cJSON *arc_curves_summary_json(const dc_curves *curves)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < curves->len; i++) {
        const dc_curve *cv = &curves->items[i];
        double lo = INFINITY, hi = -INFINITY;
        for (int j = 0; j < cv->len; j++) {
            if (cv->value[j] < lo) lo = cv->value[j];
            if (cv->value[j] > hi) hi = cv->value[j];
        }
        dc_drift d = dc_curve_drift(cv);
        cJSON *o = cJSON_CreateObject();
        add_str(o, "metric", cv->metric);
        cJSON_AddNumberToObject(o, "points", cv->len);
        arc_json_add_number(o, "first", cv->len ? cv->value[0] : NAN);
        arc_json_add_number(o, "last", cv->len ? cv->value[cv->len - 1] : NAN);
        arc_json_add_number(o, "min", cv->len ? lo : NAN);
        arc_json_add_number(o, "max", cv->len ? hi : NAN);
        arc_json_add_number(o, "drift_magnitude", d.magnitude);
        cJSON_AddNumberToObject(o, "drift_time", d.drift_time);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *arc_evaluation_json(const arc_evaluation *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)e->id);
    cJSON_AddNumberToObject(o, "candidate_id", (double)e->candidate_id);
    add_str(o, "task", e->task);
    cJSON_AddNumberToObject(o, "seed", (double)e->seed);
    add_embedded(o, "params", e->params_json);
    add_str(o, "status", e->status);
    add_str(o, "message", e->message);
    arc_json_add_number(o, "fitness", e->fitness);
    arc_json_add_number(o, "test_metric", e->test_metric);
    add_embedded(o, "metrics", e->metrics_json);
    arc_json_add_number(o, "seconds", e->seconds);
    add_str(o, "created_at", e->created_at);
    add_str(o, "purpose", e->purpose ? e->purpose : "");
    cJSON_AddItemToObject(o, "curves", arc_curves_summary_json(&e->curves));
    return o;
}

cJSON *arc_llm_call_json(const arc_llm_call *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)c->id);
    cJSON_AddNumberToObject(o, "campaign_id", (double)c->campaign_id);
    cJSON_AddNumberToObject(o, "generation", c->generation);
    cJSON_AddNumberToObject(o, "island", c->island);
    add_str(o, "model", c->model); /* "" for calls archived before schema 3 */
    cJSON_AddNumberToObject(o, "http_status", c->http_status);
    cJSON_AddNumberToObject(o, "tokens_in", c->tokens_in);
    cJSON_AddNumberToObject(o, "tokens_out", c->tokens_out);
    arc_json_add_number(o, "latency_s", c->latency_s);
    arc_json_add_number(o, "cost", c->cost);
    add_str(o, "error", c->error);
    add_str(o, "created_at", c->created_at);
    add_str(o, "request", c->request_json);
    add_str(o, "response", c->response_raw);
    /* more than the response's length when an oversized reply was stored cut */
    cJSON_AddNumberToObject(o, "response_bytes", (double)c->response_bytes);
    return o;
}
