/* worker_runtime.c — the only functions a candidate can reach: the math allow-list of
 * discover_objective.h and the runtime helpers tcc's x86-64 code generator emits calls to
 * (struct copies and zeroing use memcpy/memmove/memset; 64-bit unsigned <-> floating
 * conversions use the libtcc1 helpers, re-implemented here so the worker does not depend
 * on the `tcc` package's libtcc1.a). Everything else is an undefined symbol, which the
 * compile step reports as a violation. */
#define _GNU_SOURCE
#include "worker.h"

#include <math.h>
#include <string.h>

static int discover_isfinite(double x) { return isfinite(x) ? 1 : 0; }
static int discover_isnan(double x) { return isnan(x) ? 1 : 0; }
static int discover_isinf(double x) { return isinf(x) ? 1 : 0; }

/* libtcc1 equivalents (names differ so they never shadow libgcc's own). */
static unsigned long long fixunssfdi(float a) { return (unsigned long long)a; }
static unsigned long long fixunsdfdi(double a) { return (unsigned long long)a; }
static unsigned long long fixunsxfdi(long double a) { return (unsigned long long)a; }
static long long fixsfdi(float a) { return (long long)a; }
static long long fixdfdi(double a) { return (long long)a; }
static long long fixxfdi(long double a) { return (long long)a; }
static float floatundisf(unsigned long long a) { return (float)a; }
static double floatundidf(unsigned long long a) { return (double)a; }
static long double floatundixf(unsigned long long a) { return (long double)a; }

#define SYM(f) {#f, (const void *)&f}

const sbx_symbol sbx_symbols[] = {
    /* public: the allow-list of discover_objective.h, in its order */
    SYM(exp), SYM(log), SYM(log1p), SYM(expm1), SYM(log2), SYM(log10), SYM(sqrt), SYM(cbrt),
    SYM(pow), SYM(fabs), SYM(tanh), SYM(sinh), SYM(cosh), SYM(sin), SYM(cos), SYM(tan),
    SYM(atan), SYM(atan2), SYM(erf), SYM(erfc), SYM(fmin), SYM(fmax), SYM(floor), SYM(ceil),
    SYM(round), SYM(trunc), SYM(fmod), SYM(copysign), SYM(hypot), SYM(expf), SYM(logf),
    SYM(log1pf), SYM(sqrtf), SYM(powf), SYM(fabsf), SYM(tanhf), SYM(fminf), SYM(fmaxf),
    {"__discover_isfinite", (const void *)&discover_isfinite},
    {"__discover_isnan", (const void *)&discover_isnan},
    {"__discover_isinf", (const void *)&discover_isinf},
    /* code-generator helpers */
    SYM(memset), SYM(memcpy), SYM(memmove),
    {"__fixunssfdi", (const void *)&fixunssfdi},
    {"__fixunsdfdi", (const void *)&fixunsdfdi},
    {"__fixunsxfdi", (const void *)&fixunsxfdi},
    {"__fixsfdi", (const void *)&fixsfdi},
    {"__fixdfdi", (const void *)&fixdfdi},
    {"__fixxfdi", (const void *)&fixxfdi},
    {"__floatundisf", (const void *)&floatundisf},
    {"__floatundidf", (const void *)&floatundidf},
    {"__floatundixf", (const void *)&floatundixf},
};
const size_t sbx_symbol_count = sizeof sbx_symbols / sizeof *sbx_symbols;

const char *sbx_allowed_names(void)
{
    return "exp, log, log1p, expm1, log2, log10, sqrt, cbrt, pow, fabs, tanh, sinh, cosh, sin, "
           "cos, tan, atan, atan2, erf, erfc, fmin, fmax, floor, ceil, round, trunc, fmod, "
           "copysign, hypot, expf, logf, log1pf, sqrtf, powf, fabsf, tanhf, fminf, fmaxf, "
           "isfinite, isnan, isinf";
}
