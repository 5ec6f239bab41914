#include "status.h"

#include <string.h>

static const char *const names[DC_STATUS_COUNT] = {
    [DC_OK] = "ok",
    [DC_COMPILE_ERROR] = "compile_error",
    [DC_VIOLATION] = "violation",
    [DC_CRASH] = "crash",
    [DC_TIMEOUT] = "timeout",
    [DC_NONFINITE] = "nonfinite",
    [DC_INVALID] = "invalid",
    [DC_DUPLICATE] = "duplicate",
    [DC_PARSE_ERROR] = "parse_error",
    [DC_INTERRUPTED] = "interrupted",
    [DC_ERROR] = "error",
    [DC_PENDING] = "pending",
};

const char *dc_status_name(dc_status s)
{
    if ((int)s < 0 || s >= DC_STATUS_COUNT) return "error";
    return names[s];
}

int dc_status_parse(const char *name)
{
    for (int i = 0; i < DC_STATUS_COUNT; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

int dc_status_is_final(const char *name)
{
    int s = name ? dc_status_parse(name) : -1;
    return s >= 0 && s != DC_PENDING && s != DC_INTERRUPTED;
}
