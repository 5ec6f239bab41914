/* cli_models.h — per-model statistics of a campaign's LLM calls, for `ls --models` and
 * `show`. */
#ifndef DC_CLI_MODELS_H
#define DC_CLI_MODELS_H

#include "archive/archive.h"
#include "cli.h"

#include <cJSON.h>

/* {"campaign", "model", "calls", "tokens_in", "tokens_out", "cost", "ok", "ok_rate",
 *  "best_fitness" (null when none scored)}. */
cJSON *cli_model_stats_json(const char *campaign, const arc_model_stat *m);
/* Prints the models of every campaign of camps (only only_id's when non-zero): a table
 * (aligned on a terminal, else tab-separated) or, with json, one JSON array. 0, or -1 with
 * a message. */
int cli_print_models(archive *a, const arc_campaign *camps, int ncamps, int64_t only_id, int json,
                     char *err, size_t errcap);

#endif
