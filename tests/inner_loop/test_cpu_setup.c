/* test_cpu_setup.c — what dc_backend_set_threads sets up for CPU training (issue 15):
 *   - flush-to-zero / denormals-are-zero on the calling thread AND on every OpenBLAS worker
 *     thread (subnormal Adam moments made the fashion step 10x slower). Checked by
 *     computing with subnormals, not by timing: a product that OpenBLAS spreads over its
 *     threads comes out all zero only when every thread flushes. Its own process, so
 *     OpenBLAS's workers are the ones it started at load time;
 *   - DISCOVER_FTZ=0 leaves the mode alone (the FTZ accuracy benchmark's control run);
 *   - OpenBLAS's kernels: not its generic x86-64 fallback ("Prescott", SSE3) on a CPU with
 *     AVX2, unless the user chose a core with OPENBLAS_CORETYPE. */
#define _POSIX_C_SOURCE 200809L // setenv
#include "tests/test.h"

#include "inner_loop/backend.h"

#include <cblas.h>
#include <xmmintrin.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(__x86_64__) && !defined(__i386__)
int main(void)
{
    printf("no flush-to-zero mode known on this CPU: skipped\n");
    return 77;
}
#else
int main(void)
{
    // The probes must see the difference: the process starts in the default environment,
    // where nothing flushes (and no fork yet: OpenBLAS's fork handler restarts its pool).
    CHECK_MSG(dc_backend_fp_mode_here() == 0 && dc_backend_fp_mode_blas() == 0,
              "with the default MXCSR the probes must report no flushing");

    CHECK(dc_backend_fp_mode_set() == 0);
    CHECK(dc_backend_fp_mode_here() == 1);
    // What the workers started at load do: informative only (a BLAS that passes the
    // caller's MXCSR to its threads, or one thread, flushes here already).
    printf("OpenBLAS %s, %d threads; workers started at load flush: %s\n", openblas_get_corename(),
           openblas_get_num_threads(), dc_backend_fp_mode_blas() ? "yes" : "no");

    dc_backend_set_threads(2);
    CHECK(dc_backend_fp_mode_here() == 1);
    CHECK_MSG(dc_backend_fp_mode_blas() == 1, "2 threads: a BLAS worker does not flush");

    // more threads than the pool had: the new ones start from this thread
    dc_backend_set_threads(4);
    CHECK_MSG(dc_backend_fp_mode_blas() == 1, "4 threads: a BLAS worker does not flush");

    // a fork (the sandbox host forks its worker) stops OpenBLAS's pool; it restarts from
    // the thread of the next product, which still has the mode
    int st = 0;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) _exit(dc_backend_fp_mode_blas() == 1 ? 0 : 1);
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the forked child lost the mode");
    CHECK_MSG(dc_backend_fp_mode_blas() == 1, "after a fork: a BLAS worker does not flush");

    dc_backend_set_threads(1);
    CHECK(dc_backend_fp_mode_here() == 1 && dc_backend_fp_mode_blas() == 1);

    // DISCOVER_FTZ=0 (the accuracy benchmark's control): set-up leaves the mode as it found
    // it, here the process default (nothing flushes); any other value keeps FTZ/DAZ
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        _mm_setcsr(_mm_getcsr() & ~0x8040u); // as a process starts
        if (setenv("DISCOVER_FTZ", "0", 1) != 0 || dc_backend_ftz_wanted()) _exit(2);
        dc_backend_set_threads(1);
        if (dc_backend_fp_mode_here() != 0) _exit(3);
        if (setenv("DISCOVER_FTZ", "1", 1) != 0 || !dc_backend_ftz_wanted()) _exit(4);
        dc_backend_set_threads(1);
        _exit(dc_backend_fp_mode_here() == 1 ? 0 : 5);
    }
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "DISCOVER_FTZ: child exit %d",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    __builtin_cpu_init();
    printf("OpenBLAS kernels after set-up: %s\n", openblas_get_corename());
    if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        CHECK_MSG(strcmp(openblas_get_corename(), "Prescott") != 0,
                  "an AVX2 CPU left on OpenBLAS's SSE3 kernels");
    return TEST_REPORT();
}
#endif
