/* Tests of the shared helpers: RNG determinism, string buffer, curves and drift, escaping
 * of untrusted text for terminals and JSON. */
#include "tests/test.h"

#include "common/curve.h"
#include "common/rng.h"
#include "common/safe_text.h"
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

/* One case: the input and its expected one-line form (the message prints only escaped
 * text: the raw input would act on the terminal running the test). */
static void check_line(const char *in, const char *want)
{
    char *got = dc_safe_text(in, DC_SAFE_LINE);
    CHECK_MSG(!strcmp(got, want), "want \"%s\", got \"%s\"", want, got);
    free(got);
}

static void test_safe_text(void)
{
    /* What a hostile candidate printed: a window title (OSC 0), a screen clear (CSI 2J), a
     * clipboard write (OSC 52) and a fake verdict on a fresh line. */
    check_line("x\033]0;pwned\007\033[2J\r\nok: passes",
               "x\\x1b]0;pwned\\x07\\x1b[2J\\r\\nok: passes");
    check_line("\033]52;c;ZXZpbA==\033\\", "\\x1b]52;c;ZXZpbA==\\x1b\\");
    check_line("tab\there\x7f", "tab\\there\\x7f");
    /* C1 CSI (U+009B) and the bidi override U+202E, isolates, marks, separators. */
    check_line("a\xc2\x9b"
               "2Jb",
               "a\\u009b2Jb");
    check_line("abc\xe2\x80\xae"
               "cba",
               "abc\\u202ecba");
    check_line("\xe2\x81\xa6\xe2\x80\x8f\xd8\x9c\xe2\x80\xa8", "\\u2066\\u200f\\u061c\\u2028");
    /* Invalid UTF-8: a stray continuation byte, the \xff\xfe of a hostile file name, an
     * overlong '/', a surrogate, a sequence cut by the end of the string. */
    check_line("\x80\xff\xfe", "\\x80\\xff\\xfe");
    check_line("\xc0\xaf", "\\xc0\\xaf");
    check_line("\xed\xa0\x80", "\\xed\\xa0\\x80");
    check_line("end\xe2\x82", "end\\xe2\\x82");
    /* Ordinary text in any script passes unchanged, backslashes too. */
    check_line("fitness 0.8 \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 C:\\dir",
               "fitness 0.8 \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 C:\\dir");
    check_line("", "");
    check_line(NULL, "(null)");
    /* A block keeps its lines and tabs, and still escapes the rest. */
    char *blk = dc_safe_text("line 1\n\tline 2\033[1A\r", DC_SAFE_BLOCK);
    CHECK_STR(blk, "line 1\n\tline 2\\x1b[1A\\r");
    free(blk);

    /* JSON: invalid bytes become U+FFFD, controls above ASCII become \u escapes, the rest
     * (structure, valid text, cJSON's own escapes) is untouched. */
    char *j = dc_json_safe(
        "{\"file\": \"a\xff\xfe.c\", \"t\": \"\xc3\xa9\xc2\x9b\xe2\x80\xae\x7f\\u001b\"}\n");
    CHECK_STR(
        j, "{\"file\": \"a\\ufffd\\ufffd.c\", \"t\": \"\xc3\xa9\\u009b\\u202e\\u007f\\u001b\"}\n");
    CHECK(dc_utf8_valid(j));
    free(j);
    CHECK(dc_utf8_valid("plain \xc3\xa9 \xf0\x9f\x98\x80"));
    CHECK(!dc_utf8_valid("a\xff"));
    CHECK(!dc_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
}

/* Timeline timestamps: microseconds survive a round trip, a start is truncated (never
 * later than the event), and the seconds-only form still parses. */
static void test_utc(void)
{
    double t;
    CHECK(dc_utc_parse("2026-11-23T18:20:00Z", &t) == 0);
    CHECK_NEAR(t, 1795458000.0, 0);
    CHECK(dc_utc_parse("2026-11-23T18:20:00.25Z", &t) == 0);
    CHECK_NEAR(t, 1795458000.25, 1e-9);
    char buf[40];
    dc_utc_iso_at(1795458000.1234567, buf, sizeof buf);
    CHECK_STR(buf, "2026-11-23T18:20:00.123456Z");
    CHECK(dc_utc_parse(buf, &t) == 0);
    CHECK_NEAR(t, 1795458000.123456, 2e-6);
    dc_utc_iso_at(1795458000.9999995, buf, sizeof buf);
    CHECK_STR(buf, "2026-11-23T18:20:00.999999Z");
    double now = dc_utc_epoch();
    dc_utc_iso_at(now, buf, sizeof buf);
    CHECK(dc_utc_parse(buf, &t) == 0 && t <= now && now - t < 2e-6);
    CHECK(dc_utc_parse("", &t) == -1);
    CHECK(dc_utc_parse(NULL, &t) == -1);
    CHECK(dc_utc_parse("2026-11-23 18:20:00", &t) == -1);
    CHECK(dc_utc_parse("2026-11-23T18:20:00.Z", &t) == -1);
    CHECK(dc_utc_parse("2026-11-23T18:20:00Zjunk", &t) == -1);
}

int main(void)
{
    test_utc();
    test_rng();
    test_safe_text();
    test_sb();
    test_curves();
    test_status();
    return TEST_REPORT();
}
