/* archive_json.h — archive records as JSON objects, for `--json` output of the commands
 * (ls, show, campaigns) and for anything else that exports records. Numbers that are
 * missing (NaN, no fitness) become null; *_json text fields are embedded as parsed JSON
 * (as the raw string when they do not parse). The caller owns the returned object. */
#ifndef DC_ARCHIVE_JSON_H
#define DC_ARCHIVE_JSON_H

#include "archive.h"

#include <cJSON.h>

/* with_code: include thought and code (when the record has them). */
cJSON *arc_candidate_json(const arc_candidate *c, int with_code);
cJSON *arc_campaign_json(const arc_campaign *c);
/* Per-metric summary of curves: metric, points, first, last, min, max, drift_magnitude,
 * drift_time (dc_curve_drift). */
cJSON *arc_curves_summary_json(const dc_curves *curves);
cJSON *arc_evaluation_json(const arc_evaluation *e);
cJSON *arc_llm_call_json(const arc_llm_call *c);

/* Adds a number, or null when v is not finite. */
void arc_json_add_number(cJSON *o, const char *key, double v);

#endif
