/* test_objectives_coverage — every example objective has a test, and every example file
 * keeps the shape the sandbox expects.
 *
 * Lists every .c file in examples/objectives/<area>/ and requires, for each file NAME.c, that some
 * test source in tests/objectives/ calls NAME_objective (the name CMakeLists.txt compiles it under)
 * at least twice (declaration + use in a reference table). A new baseline without a test fails here
 * instead of slipping through. */
#include "tests/test.h"
#include "common/util.h"

#include <dirent.h>
#include <stdlib.h>

static const char *source_root(void)
{
    const char *home = getenv("DISCOVER_HOME");
    return home && *home ? home : DC_SOURCE_DIR;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* All test sources of this folder concatenated. */
static char *read_tests(void)
{
    char dir[1024], path[1280], err[256];
    dc_sb all = {0};
    dc_fmt(dir, sizeof dir, "%s/tests/objectives", source_root());
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot list %s", dir);
    if (!d) return dc_sb_take(&all);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_suffix(e->d_name, ".c")) continue;
        dc_fmt(path, sizeof path, "%s/%s", dir, e->d_name);
        char *text = dc_read_file(path, 0, NULL, err, sizeof err);
        CHECK_MSG(text != NULL, "%s", err);
        if (text) dc_sb_append(&all, text);
        free(text);
    }
    closedir(d);
    return dc_sb_take(&all);
}

/* Counts non-overlapping occurrences of needle. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static int check_area(const char *area, const char *tests, const char *signature)
{
    char dir[1024], path[1280], inc[512], err[256];
    dc_fmt(dir, sizeof dir, "%s/examples/objectives/%s", source_root(), area);
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot list %s", dir);
    if (!d) return 0;
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_suffix(e->d_name, ".c")) continue;
        files++;
        dc_fmt(inc, sizeof inc, "%.*s_objective", (int)(strlen(e->d_name) - 2), e->d_name);
        CHECK_MSG(count(tests, inc) >= 2,
                  "%s/%s has no test: call %s from a test under tests/objectives/ and compare it "
                  "against an independent reference",
                  area, e->d_name, inc);
        dc_fmt(path, sizeof path, "%s/%s", dir, e->d_name);
        char *text = dc_read_file(path, 0, NULL, err, sizeof err);
        CHECK_MSG(text != NULL, "%s", err);
        if (!text) continue;
        /* Header comment first (name, formula, source), then exactly one `objective`. */
        CHECK_MSG(strncmp(text, "/* ", 3) == 0, "%s/%s must start with its header comment", area,
                  e->d_name);
        CHECK_MSG(strstr(text, "Source:") != NULL, "%s/%s: header must name its source", area,
                  e->d_name);
        CHECK_MSG(count(text, signature) == 1, "%s/%s must define `%s...` exactly once", area,
                  e->d_name, signature);
        free(text);
    }
    closedir(d);
    return files;
}

int main(void)
{
    char *tests = read_tests();
    int np = check_area("sentiment", tests, "void objective(const pref_batch *b, double *loss)");
    int nc = check_area(
        "fashion", tests,
        "void objective(int n, int k, const double *logits, const int *labels, double *loss)");
    /* The task's baseline sets: 18 preference and 6 classification objectives at least. */
    CHECK_MSG(np >= 18, "only %d preference examples found", np);
    CHECK_MSG(nc >= 6, "only %d classification examples found", nc);
    free(tests);
    return TEST_REPORT();
}
