/* run_config.h — the configuration steps shared by `discover run` and `discover demo`. */
#ifndef DC_RUN_CONFIG_H
#define DC_RUN_CONFIG_H

#include "archive/archive.h"
#include "discover/campaign/campaign.h"

typedef struct {
    const char *config; /* --config FILE */
    int resume, quiet, json;
    int confirm; /* run --confirm K: confirm the top K on fresh seeds afterwards (0 = no) */
} run_flags;

/* Applies, in order: (with --resume) the campaign's archived settings, the --config file,
 * then the flags, on top of what cfg holds. Returns 0 or an exit code after printing. */
int dc_run_configure(const char *cmd, int argc, char **argv, dc_campaign_cfg *cfg, run_flags *rf);
/* Prints the end-of-campaign summary (JSON on stdout with json) and, when winner is not
 * NULL, the winner by confirmed fitness; returns the exit code. */
int dc_run_report(const dc_campaign_cfg *cfg, const dc_campaign_summary *s, int json,
                  const arc_confirmed *winner);

#endif
