/* curve.h — metric trajectories recorded during training (train loss, validation accuracy,
 * reward, KL, ...). The archive stores them; the report plots them; value-drift tracing
 * computes drift magnitude and drift time from them. */
#ifndef DC_CURVE_H
#define DC_CURVE_H

typedef struct {
    char metric[48]; /* "train_loss", "val_accuracy", ... */
    int len, cap;
    int *step;
    double *value;
} dc_curve;

typedef struct {
    int len, cap;
    dc_curve *items;
} dc_curves;

/* Appends (step, value) to the curve named metric, creating it on first use. */
void dc_curves_add(dc_curves *c, const char *metric, int step, double value);
/* NULL when there is no such curve. */
const dc_curve *dc_curves_find(const dc_curves *c, const char *metric);
void dc_curves_free(dc_curves *c);
/* Deep copy of src appended into dst (used to merge per-seed curves with a "seedN/" prefix
 * when prefix is non-NULL). */
void dc_curves_append_all(dc_curves *dst, const dc_curves *src, const char *prefix);

/* Value drift (Value Drifts, 2025): how far a metric moved over a phase and how soon.
 * magnitude = last - first; drift_time = first step at which the metric has covered 90 %
 * of its final change (first step where |v - first| >= 0.9 |last - first|); -1 when the
 * curve has fewer than two points or never moved. */
typedef struct {
    double magnitude;
    int drift_time;
} dc_drift;
dc_drift dc_curve_drift(const dc_curve *c);

#endif
