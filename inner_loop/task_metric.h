/* task_metric.h — the meaning of a task's metrics, owned by the task: what each named number
 * in a result means, whether it is held out, how `eval --json` groups it and which plot of
 * the report it feeds. Consumers read this schema; none parses metric names of its own.
 *
 * A pattern is a metric name in which "{}" stands for a number (a parameter: β, N) and a
 * final "*" for any field name without '/': "beta_{}/reward", "beta_{}/\*". */
#ifndef DC_TASK_METRIC_H
#define DC_TASK_METRIC_H

#include <cJSON.h>
#include <stddef.h>

/* Which role a metric plays on a reward-vs-KL frontier. */
typedef enum {
    DC_AXIS_NONE = 0,
    DC_AXIS_REWARD, /* the point's y */
    DC_AXIS_KL,     /* the point's x */
    DC_AXIS_PARAM,  /* the point's parameter, for a pattern without {} */
} dc_metric_axis;

typedef struct {
    const char *pattern; /* see above */
    const char *meaning; /* one line */
    int held_out;        /* 1: measured on the held-out test split, never shown to the proposer */
    /* eval --json: metrics of this pattern appear under group.{}.FIELD (FIELD: the name's
     * part after the last '/'), or group.FIELD without {}; "" puts the metric itself at the
     * top level; NULL: only in the flat "metrics" object. */
    const char *group;
    /* The frontier series it feeds: "trained" (a trained objective's β sweep, the
     * parameter is β), "best_of_n" or "transfer_q" (decoding-time baselines), "ppo" (an
     * online-RL baseline trained from π_ref, the parameter its KL coefficient); NULL none. */
    const char *frontier;
    dc_metric_axis axis;
} dc_metric_def;

/* A value-drift curve a task records, for the report's overlay of post-training phases (Value
 * Drifts: one measure traced through SFT and then through each preference method). Curves
 * of one `measure` are drawn together: the "sft" phase first (shared by every method), then
 * each method's phase from where SFT ended. */
typedef struct {
    const char *pattern; /* curve name as for metrics; {} stands for the trained objective's β */
    const char *measure; /* "reward", "length": which curves are drawn together */
    /* "sft" (the phase before every method), "trained" (the candidate's own objective), or a
     * baseline's name ("ppo") */
    const char *phase;
    const char *label; /* legend text ("SFT", "PPO"); NULL for "trained" (the candidate's name) */
} dc_curve_def;

/* 1 when name matches pattern; then the number that {} stood for is in *param (NAN when the
 * pattern has none) and its text in ptext. */
int dc_metric_match(const char *pattern, const char *name, double *param, char *ptext,
                    size_t cap);

/* The name of pattern with {} replaced by ptext (a final "*" by field). 0, -1 when cut. */
int dc_metric_name(const char *pattern, const char *ptext, const char *field, char *buf,
                   size_t cap);

/* The schema entry of a series' axis (NULL when none). */
const dc_metric_def *dc_metric_axis_def(const dc_metric_def *schema, const char *frontier,
                                        dc_metric_axis axis);

/* Adds to `out` the grouped view of `metrics` that eval --json prints (see .group). */
void dc_metric_group_json(const dc_metric_def *schema, const cJSON *metrics, cJSON *out);

/* Calls fn for every point of series `frontier` found in metrics: (param, reward, kl). Only
 * points whose three numbers are present and finite. Returns the number of points. */
int dc_metric_frontier_points(const dc_metric_def *schema, const char *frontier,
                              const cJSON *metrics,
                              void (*fn)(void *ctx, double param, double reward, double kl),
                              void *ctx);

#endif
