/* Tests of the shared helpers: RNG determinism, string buffer, curves and drift. */
#include "tests/test.h"

#include "common/curve.h"
#include "common/rng.h"
#include "common/status.h"
#include "common/util.h"

#include <stdlib.h>

static void test_rng(void)
{
    dc_rng a, b;
    dc_rng_seed(&a, 42);
    dc_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= dc_rng_next(&a) == dc_rng_next(&b);
    CHECK(same);
    dc_rng_seed(&b, 43);
    CHECK(dc_rng_next(&a) != dc_rng_next(&b));
    double sum = 0, sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = dc_rng_normal(&a);
        sum += z;
        sq += z * z;
    }
    CHECK_NEAR(sum / n, 0.0, 0.02);
    CHECK_NEAR(sq / n, 1.0, 0.02);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[dc_rng_below(&a, 7)]++;
    for (int i = 0; i < 7; i++) CHECK(abs(counts[i] - 10000) < 500);
    int perm[50], seen[50] = {0};
    for (int i = 0; i < 50; i++) perm[i] = i;
    dc_rng_shuffle_int(&a, perm, 50);
    for (int i = 0; i < 50; i++) seen[perm[i]]++;
    int ok = 1;
    for (int i = 0; i < 50; i++) ok &= seen[i] == 1;
    CHECK(ok);
}

static void test_sb(void)
{
    dc_sb b = {0};
    for (int i = 0; i < 1000; i++) dc_sb_printf(&b, "%d,", i);
    CHECK(b.len == strlen(b.data));
    CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
    char *s = dc_sb_take(&b);
    CHECK(b.data == NULL);
    free(s);
}

static void test_curves(void)
{
    dc_curves c = {0};
    double v[] = {0.1, 0.5, 0.8, 0.95, 1.0};
    for (int i = 0; i < 5; i++) dc_curves_add(&c, "acc", i * 10, v[i]);
    dc_curves_add(&c, "loss", 0, 2.0);
    CHECK(c.len == 2);
    const dc_curve *acc = dc_curves_find(&c, "acc");
    CHECK(acc && acc->len == 5);
    dc_drift d = dc_curve_drift(acc);
    CHECK_NEAR(d.magnitude, 0.9, 1e-12);
    /* 90 % of 0.9 is 0.81: first reached at 0.95 (step 30). */
    CHECK(d.drift_time == 30);
    CHECK(dc_curve_drift(dc_curves_find(&c, "loss")).drift_time == -1);
    dc_curves both = {0};
    dc_curves_append_all(&both, &c, "seed1/");
    CHECK(dc_curves_find(&both, "seed1/acc") != NULL);
    dc_curves_free(&both);
    dc_curves_free(&c);
}

static void test_status(void)
{
    for (int s = 0; s < DC_STATUS_COUNT; s++) CHECK(dc_status_parse(dc_status_name(s)) == s);
    CHECK(dc_status_parse("nope") == -1);
    CHECK_STR(dc_status_name(DC_COMPILE_ERROR), "compile_error");
}

int main(void)
{
    test_rng();
    test_sb();
    test_curves();
    test_status();
    return TEST_REPORT();
}
