/* test.h — a tiny assertion layer for discover's test programs.
 *
 * Each test program is one ctest test. It counts checks, prints every failure with its
 * file and line, and ends with the line "N passed, N failed"; its exit status is non-zero
 * when anything failed. */
#ifndef DC_TEST_H
#define DC_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int dc_test_passed, dc_test_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) {                                                                    \
            dc_test_passed++;                                                          \
        } else {                                                                       \
            dc_test_failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                           \
    do {                                                                               \
        if (cond) {                                                                    \
            dc_test_passed++;                                                          \
        } else {                                                                       \
            dc_test_failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
        }                                                                              \
    } while (0)

/* |a - b| <= tol (absolute), NaN never passes. */
#define CHECK_NEAR(a, b, tol)                                                          \
    do {                                                                               \
        double dc_a_ = (a), dc_b_ = (b);                                               \
        if (fabs(dc_a_ - dc_b_) <= (tol)) {                                            \
            dc_test_passed++;                                                          \
        } else {                                                                       \
            dc_test_failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.10g, %s = %.10g, tol %g\n", \
                    __FILE__, __LINE__, #a, dc_a_, #b, dc_b_, (double)(tol));          \
        }                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                \
    do {                                                                               \
        const char *dc_sa_ = (a), *dc_sb_ = (b);                                       \
        if (dc_sa_ && dc_sb_ && strcmp(dc_sa_, dc_sb_) == 0) {                         \
            dc_test_passed++;                                                          \
        } else {                                                                       \
            dc_test_failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s = \"%s\", %s = \"%s\"\n",     \
                    __FILE__, __LINE__, #a, dc_sa_ ? dc_sa_ : "(null)", #b,            \
                    dc_sb_ ? dc_sb_ : "(null)");                                       \
        }                                                                              \
    } while (0)

/* Ends main(): prints the summary line and returns the exit status. */
#define TEST_REPORT()                                                                  \
    (printf("%d passed, %d failed\n", dc_test_passed, dc_test_failed), dc_test_failed ? 1 : 0)

#endif
