/* sbx_test_util.h — helpers shared by the sandbox tests: short limits so hostile cases end
 * fast, and a canary file that must survive every candidate. */
#ifndef SBX_TEST_UTIL_H
#define SBX_TEST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setenv, mkdtemp under -std=c11 */
#endif

#include "sandbox/sandbox.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Tight budgets: the hostile tests wait out a timeout or two. */
__attribute__((unused)) static void sbx_test_limits(sbx_limits *l)
{
    sbx_limits_default(l);
    l->compile_timeout_s = 1.5;
    l->call_timeout_s = 0.6;
}

__attribute__((unused)) static dc_status sbx_test_check(sbx_kind kind, const char *src, size_t len, char *msg, size_t cap)
{
    sbx_limits l;
    sbx_test_limits(&l);
    return sbx_check_source(kind, src, len, &l, msg, cap);
}

/* The worker binary of this build tree (tests may run from anywhere). */
__attribute__((unused)) static void sbx_test_use_build_worker(void)
{
    if (!getenv("DISCOVER_WORKER")) setenv("DISCOVER_WORKER", DC_BUILD_DIR "/discover-sandbox", 1);
}

#define CANARY_TEXT "canary: the host's files must stay untouched\n"

/* Creates <tmp>/canary.txt; returns the directory (static buffer). */
__attribute__((unused)) static const char *canary_make(char *dir, size_t cap, char *file, size_t fcap)
{
    snprintf(dir, cap, "/tmp/dc_sbx_canary_XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    snprintf(file, fcap, "%s/canary.txt", dir);
    FILE *f = fopen(file, "w");
    if (!f) return NULL;
    fputs(CANARY_TEXT, f);
    fclose(f);
    return dir;
}

__attribute__((unused)) static int canary_intact(const char *file)
{
    char buf[256] = {0};
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(CANARY_TEXT) && memcmp(buf, CANARY_TEXT, n) == 0;
}

#endif
