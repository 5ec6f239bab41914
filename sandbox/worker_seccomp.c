/* worker_seccomp.c — the worker's system-call filters.
 *
 * Filters stack and only ever narrow: a process obeys every filter it and its ancestors
 * loaded, and the strictest answer wins (kill > trap > errno > allow). So the stages are:
 *
 * Stage 1, the supervisor while it compiles (libseccomp): tcc is trusted code but reads
 * files for #include and `.include`; the textual filter refuses those, and this stage makes
 * every open fail with EACCES in case the filter is ever fooled. Memory management stays
 * allowed (tcc mallocs; the worker maps and protects the relocated image), and so does all
 * the supervisor needs later, since stage 2 can only narrow this. Anything else fails with
 * EPERM rather than killing: no candidate code runs here, so a graceful error from tcc is
 * best.
 *
 * Stage 2, the supervisor from then on (libseccomp): its two channels, fork + wait for its
 * executors, and what a new executor does before its own filter (unmap the blocks it must
 * not see, close descriptors, death-with-parent, lock down). No memory management: nothing
 * allocates after this point. The supervisor never runs candidate code; this stage is a
 * second line of defence, not the first.
 *
 * Executors (a raw BPF program, so loading it allocates nothing: it is loaded in a child
 * forked after stage 2, which forbids brk and mmap): read/write on their one descriptor (a
 * fresh executor has none), exit, exit_group and rt_sigreturn. Any other system call traps:
 * the SIGSYS handler records its number in the executor's own window and exits with
 * SBX_EXIT_VIOLATION, so the host can name the call. A system call through the 32-bit ABI
 * (int 0x80) kills the process outright; x32 numbers match nothing allowed and trap.
 *
 * Neither libseccomp context is freed after loading: seccomp_release() would call free(),
 * which may trim the heap (brk), and stage 2 forbids that. */
#define _GNU_SOURCE
#include "worker.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
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

int sbx_sigsys_install(sbx_header *hdr)
{
    /* In before any filter: no stage allows rt_sigaction. */
    g_hdr = hdr;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSYS, &sa, NULL) == 0 ? 0 : -1;
}

void sbx_sigsys_report_to(sbx_header *hdr)
{
    g_hdr = hdr;
}

static int allow(scmp_filter_ctx c, int nr)
{
    return seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 0);
}

static int allow_fd(scmp_filter_ctx c, int nr, int fd)
{
    return seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd));
}

/* What the supervisor may do in both stages. fork() in glibc 2.36 is the clone system call
 * plus set_robust_list in the child; getrandom seeds the audit schedule after the first
 * fork. */
static int allow_supervisor(scmp_filter_ctx c)
{
    static const int calls[] = {
        SCMP_SYS(exit),     SCMP_SYS(exit_group),      SCMP_SYS(rt_sigreturn),
        SCMP_SYS(clone),    SCMP_SYS(set_robust_list), SCMP_SYS(wait4),
        SCMP_SYS(munmap),   SCMP_SYS(close),           SCMP_SYS(getppid),
        SCMP_SYS(getpid),   SCMP_SYS(prctl),           SCMP_SYS(seccomp),
        SCMP_SYS(getrandom)};
    int rc = 0;
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++)
        rc |= allow(c, calls[i]);
    static const int fds[] = {SBX_FD_SOCK, SBX_FD_EXEC_PARENT, SBX_FD_EXEC};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) {
        rc |= allow_fd(c, SCMP_SYS(read), fds[i]);
        rc |= allow_fd(c, SCMP_SYS(write), fds[i]);
    }
    return rc;
}

int sbx_lockdown_compile(void)
{
    scmp_filter_ctx c = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!c) return -1;
    int rc = allow_supervisor(c);
    static const int mem[] = {SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
                              SCMP_SYS(madvise)};
    for (size_t i = 0; i < sizeof mem / sizeof *mem; i++)
        rc |= allow(c, mem[i]);
    rc |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
    rc |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
    rc |= seccomp_rule_add(c, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat2), 0);
    if (rc == 0) rc = seccomp_load(c);
    return rc == 0 ? 0 : -1;
}

int sbx_lockdown_supervisor(void)
{
    scmp_filter_ctx c = seccomp_init(SCMP_ACT_TRAP);
    if (!c) return -1;
    int rc = allow_supervisor(c);
    if (rc == 0) rc = seccomp_load(c);
    return rc == 0 ? 0 : -1;
}

/* Classic BPF, one instruction per line; the jump offsets count instructions skipped. */
#define LD_ABS(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define LD_ARG0_LO BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))
#define LD_ARG0_HI BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + 4)
#define JEQ(k, yes, no) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (yes), (no))
#define RET(action) BPF_STMT(BPF_RET | BPF_K, (action))

int sbx_lockdown_executor(int fd)
{
    /* x86-64 is little-endian: args[0]'s low word comes first. The kernel reads a
     * descriptor as an int, but the filter sees all 64 bits, so both words must match. */
    __u32 lo = (__u32)fd, hi = 0;
    struct sock_filter prog[] = {
        /*  0 */ LD_ABS(arch),
        /*  1 */ JEQ(AUDIT_ARCH_X86_64, 1, 0),
        /*  2 */ RET(SECCOMP_RET_KILL_PROCESS),
        /*  3 */ LD_ABS(nr),
        /*  4 */ JEQ(__NR_exit, 9, 0),
        /*  5 */ JEQ(__NR_exit_group, 8, 0),
        /*  6 */ JEQ(__NR_rt_sigreturn, 7, 0),
        /*  7 */ JEQ(__NR_read, 1, 0),
        /*  8 */ JEQ(__NR_write, 0, 4),
        /*  9 */ LD_ARG0_LO, /* read or write: only on fd */
        /* 10 */ JEQ(lo, 0, 2),
        /* 11 */ LD_ARG0_HI,
        /* 12 */ JEQ(hi, 1, 0),
        /* 13 */ RET(SECCOMP_RET_TRAP),
        /* 14 */ RET(SECCOMP_RET_ALLOW),
    };
    if (fd < 0) { /* no descriptor at all: read and write go straight to the trap */
        prog[7] = (struct sock_filter)JEQ(__NR_read, 5, 0);
        prog[8] = (struct sock_filter)JEQ(__NR_write, 4, 4);
    }
    struct sock_fprog fp = {(unsigned short)(sizeof prog / sizeof *prog), prog};
    /* no_new_privs is already set (stage 1 set it); set again in case it ever was not. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) == 0 ? 0 : -1;
}
