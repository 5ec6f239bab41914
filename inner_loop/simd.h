/* simd.h — what lets the CPU kernels' plain loops run on the vector units the CPU has.
 *
 * DC_CLONES on a function compiles it three times, for plain x86-64 (SSE2), x86-64-v3
 * (AVX2) and x86-64-v4 (AVX-512), and the loader picks the best the CPU runs: a Debian
 * binary must run on any x86-64, and these loops are most of a step that is not a matrix
 * product. The project compiles ISO C (-std=c11), where GCC does not contract a*b+c into an
 * FMA, so every clone rounds each operation alike and gives the same bits: the choice
 * changes the speed only.
 *
 * DC_NO_UNROLL before a short fixed-length loop over lanes (for j < 8: lane[j] op= ...)
 * keeps it a loop: GCC 12 otherwise unrolls it first and then leaves the unrolled
 * compare-selects and adds scalar, where the loop becomes one vector operation. */
#ifndef DC_SIMD_H
#define DC_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define DC_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define DC_CLONES
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define DC_NO_UNROLL _Pragma("GCC unroll 1")
#else
#define DC_NO_UNROLL
#endif

#endif
