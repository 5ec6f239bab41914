/* worker_seccomp.c — the worker's two system-call filters (libseccomp).
 *
 * Stage 1 (compiling): tcc is trusted code but reads files for #include and `.include`;
 * the textual filter refuses those, and this stage makes every open fail with EACCES in
 * case the filter is ever fooled. Memory management stays allowed (tcc mallocs, and
 * tcc_relocate mprotects its code pages). Anything else fails with EPERM rather than
 * killing: no candidate code runs in this stage, so a graceful error from tcc is best.
 *
 * Stage 2 (evaluating, candidate code runs): only the doorbell (read/write on fd 3), exit,
 * exit_group and rt_sigreturn. Anything else traps: the SIGSYS handler records the
 * system-call number in shared memory and exits with SBX_EXIT_VIOLATION, so the host can
 * name the call. Filters stack, so stage 2 only narrows stage 1. Neither filter is freed
 * after loading: seccomp_release() would call free(), which may trim the heap (brk),
 * and that is exactly what stage 2 forbids. */
#define _GNU_SOURCE
#include "worker.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static sbx_header *g_hdr;

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    if (g_hdr) g_hdr->violation_nr = si->si_syscall;
    syscall(SYS_exit_group, SBX_EXIT_VIOLATION);
}

static int allow(scmp_filter_ctx c, int nr) { return seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 0); }

static int allow_fd(scmp_filter_ctx c, int nr, int fd)
{
    return seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd));
}

int sbx_lockdown_compile(sbx_header *hdr)
{
    /* The SIGSYS handler goes in first: rt_sigaction is not allowed by either stage. */
    g_hdr = hdr;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0) return -1;

    scmp_filter_ctx c = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!c) return -1;
    int rc = 0;
    static const int mem[] = {SCMP_SYS(brk),    SCMP_SYS(mmap),    SCMP_SYS(munmap),
                              SCMP_SYS(mremap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
                              SCMP_SYS(exit),   SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn),
                              /* loading stage 2 (filters only ever narrow) */
                              SCMP_SYS(prctl),  SCMP_SYS(seccomp)};
    for (size_t i = 0; i < sizeof mem / sizeof *mem; i++) rc |= allow(c, mem[i]);
    rc |= allow_fd(c, SCMP_SYS(read), SBX_FD_SOCK);
    rc |= allow_fd(c, SCMP_SYS(write), SBX_FD_SOCK);
    rc |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
    rc |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
    rc |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat2), 0);
    if (rc == 0) rc = seccomp_load(c);
    return rc == 0 ? 0 : -1;
}

int sbx_lockdown_eval(void)
{
    scmp_filter_ctx c = seccomp_init(SCMP_ACT_TRAP);
    if (!c) return -1;
    int rc = 0;
    rc |= allow_fd(c, SCMP_SYS(read), SBX_FD_SOCK);
    rc |= allow_fd(c, SCMP_SYS(write), SBX_FD_SOCK);
    rc |= allow(c, SCMP_SYS(exit));
    rc |= allow(c, SCMP_SYS(exit_group));
    rc |= allow(c, SCMP_SYS(rt_sigreturn));
    if (rc == 0) rc = seccomp_load(c);
    return rc == 0 ? 0 : -1;
}
