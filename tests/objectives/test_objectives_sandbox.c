/* test_objectives_sandbox — every example objective goes through the real sandbox the way a
 * candidate does: compiled by libtcc in the locked-down worker, pre-screened (finite, every
 * row written, deterministic, non-constant) and fingerprinted. No two examples may behave
 * identically on the probe batch (that would mean a copy-paste slip between two files). */
#include "sandbox/sandbox.h"
#include "tests/test.h"
#include "common/util.h"

#include <dirent.h>
#include <stdlib.h>

static const char *source_root(void)
{
    const char *home = getenv("DISCOVER_HOME");
    return home && *home ? home : DC_SOURCE_DIR;
}

static void check_area(const char *area, sbx_kind kind)
{
    char dir[1024], path[1280], err[256], msg[512];
    char names[64][64], prints[64][24];
    int n = 0;
    dc_fmt(dir, sizeof dir, "%s/examples/objectives/%s", source_root(), area);
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot list %s", dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".c") != 0) continue;
        dc_fmt(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t srclen;
        char *src = dc_read_file(path, 0, &srclen, err, sizeof err);
        CHECK_MSG(src != NULL, "%s", err);
        if (!src) continue;
        sbx_worker *w = NULL;
        dc_status st = sbx_open(kind, src, srclen, NULL, &w, msg, sizeof msg);
        CHECK_MSG(st == DC_OK, "%s/%s does not compile in the sandbox: %s", area, e->d_name, msg);
        if (st == DC_OK) {
            st = sbx_prescreen(w, msg, sizeof msg);
            CHECK_MSG(st == DC_OK, "%s/%s fails the pre-screen: %s", area, e->d_name, msg);
            st = sbx_fingerprint(w, prints[n], sizeof prints[n], msg, sizeof msg);
            CHECK_MSG(st == DC_OK, "%s/%s: fingerprint: %s", area, e->d_name, msg);
            if (st == DC_OK) dc_fmt(names[n++], sizeof names[0], "%s", e->d_name);
        }
        sbx_close(w);
        free(src);
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            CHECK_MSG(strcmp(prints[i], prints[j]) != 0, "%s/%s and %s/%s behave identically", area,
                      names[i], area, names[j]);
    CHECK_MSG(n >= 6, "only %d %s examples went through the sandbox", n, area);
}

int main(void)
{
    check_area("sentiment", SBX_PREF);
    check_area("fashion", SBX_CLS);
    return TEST_REPORT();
}
