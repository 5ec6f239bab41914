/* worker_main.c — discover-sandbox: the supervisor a candidate objective is compiled in,
 * and the executors it lives and dies in.
 *
 * Started only by the host (sandbox_host.c) with fork+exec: fd 3 is the doorbell socket,
 * fd 4 the shared-memory memfd, 0–2 are /dev/null. This process, the supervisor, speaks to
 * the host and never runs a single instruction of candidate code; the candidate runs in
 * executors it forks (worker_exec.c), which cannot reach the host's block or doorbell.
 *
 * Why two kinds of process: the candidate runs with the full power of native code in
 * whatever process it is in. It can read its own stack to find the request block (a
 * candidate did, and answered every request itself with forged losses, gradients, sequence
 * numbers and status), call any system call its filter allows from any address (so a filter
 * keyed on the calling instruction's address only moves the gadget), and write any memory
 * the process can write, including anything the worker would use to tell its own replies
 * from forged ones. No check inside that process can be trusted once the candidate has run
 * there. So the process that holds the host's channel must be one the candidate never runs
 * in: it hands each request to an executor through a window of its own, reads the answer
 * back as a claim, and checks the claim with fresh executors at random (worker_audit.c).
 * Status, sequence numbers, messages of its own and the gradient path it reports are then
 * its own, not the candidate's.
 *
 * Order of events:
 *   1. map the shared block (then close its descriptor), set resource limits, become
 *      non-dumpable, die with the parent, allocate every buffer the evaluation needs, map
 *      the two executor windows and make the executor's socketpair (fds 5 and 6);
 *   2. seccomp stage 1, then compile + relocate with libtcc (the source is already in
 *      shared memory), making the code read + execute and a pristine copy of its data;
 *   3. seccomp stage 2; fork the persistent executor and wait until it has locked itself
 *      down; seed the audit schedule; report "ready";
 *   4. serve requests until the host closes the socket: forward each to the executor, copy
 *      its answer into the host's block, audit it now and then, reply. When an executor
 *      dies, say how in the reply (died, child_wstatus) and exit.
 * Built WITHOUT sanitizers: their runtimes make system calls that the filters forbid. */
#define _GNU_SOURCE
#include "worker.h"

#include "common/status.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void raw_exit(int code)
{
    syscall(SYS_exit_group, code);
}

static void reply(sbx_header *h, int status)
{
    h->status = status;
    h->reply_seq = h->seq;
    unsigned char b = (unsigned char)h->seq;
    if (write(SBX_FD_SOCK, &b, 1) != 1) raw_exit(SBX_EXIT_SETUP);
}

static int set_limit(int res, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {soft, hard};
    return setrlimit(res, &rl);
}

/* Fails set-up with a message for the host. */
static int setup_failed(sbx_header *h, const char *what)
{
    snprintf(h->msg, sizeof h->msg, "sandbox worker: %s", what);
    reply(h, DC_ERROR);
    return SBX_EXIT_SETUP;
}

/* The executor's windows (anonymous shared memory: forked executors see the same pages)
 * and its socketpair, at fixed descriptor numbers for the filters. */
static int make_executor_channels(sbx_super *s)
{
    size_t total = s->e.layout.total;
    s->ewin = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    s->awin = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->ewin == MAP_FAILED || s->awin == MAP_FAILED) return -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
    /* Out of the way first: the pair itself may have been given 5 or 6. */
    int a = fcntl(sv[0], F_DUPFD, 10), b = fcntl(sv[1], F_DUPFD, 10);
    close(sv[0]);
    close(sv[1]);
    if (a < 0 || b < 0 || dup2(a, SBX_FD_EXEC_PARENT) != SBX_FD_EXEC_PARENT ||
        dup2(b, SBX_FD_EXEC) != SBX_FD_EXEC)
        return -1;
    close(a);
    close(b);
    return 0;
}

/* One request of the host: to the executor, its answer into the host's block, an audit now
 * and then. The status for the host, or -1 when an executor died (*wstatus). */
static int serve(sbx_super *s, int *wstatus)
{
    sbx_header *h = s->h;
    int n = h->n, k = h->k;
    if (h->op != SBX_OP_EVAL || n < 1 || n > h->max_rows ||
        (h->kind == 1 && (k < 1 || k > h->max_cols)) ||
        (h->kind == 2 && (k < 1 || k > h->max_rows))) {
        snprintf(h->msg, sizeof h->msg, "malformed request (op %d, n %d, k %d)", h->op, n, k);
        return DC_ERROR;
    }
    int st = sbx_exec_run(s, wstatus);
    if (st != DC_OK) return st;
    /* The answer is copied out before anything looks at it: the executor may still be
     * running and writing its window. */
    const sbx_layout *L = &s->e.layout;
    size_t mr = (size_t)h->max_rows;
    memcpy(s->shm + L->loss, s->ewin + L->loss, (size_t)n * sizeof(double));
    if (h->want_grad) {
        double *g = (double *)(s->shm + L->grad);
        const double *eg = (const double *)(s->ewin + L->grad);
        if (h->kind != 1) {
            size_t per = h->kind == 0 ? (size_t)n : (size_t)k; /* rows, or tokens per side */
            memcpy(g, eg, per * sizeof(double));
            memcpy(g + mr, eg + mr, per * sizeof(double));
        } else {
            memcpy(g, eg, (size_t)n * (size_t)k * sizeof(double));
        }
    }
    if (sbx_audit_due(s)) {
        st = sbx_audit(s, wstatus);
        if (st < 0) h->died_in_audit = 1;
    }
    return st;
}

int main(void)
{
    struct stat st;
    if (fstat(SBX_FD_SHM, &st) != 0 || st.st_size < (off_t)sizeof(sbx_header))
        return SBX_EXIT_SETUP;
    unsigned char *shm =
        mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, SBX_FD_SHM, 0);
    if (shm == MAP_FAILED) return SBX_EXIT_SETUP;
    close(SBX_FD_SHM);
    sbx_header *h = (sbx_header *)shm;
    if (h->magic != SBX_MAGIC || h->version != SBX_VERSION || h->shm_size != (uint64_t)st.st_size)
        return SBX_EXIT_SETUP;
    sbx_layout L = sbx_compute_layout(h->max_rows, h->max_cols);
    if (L.total != h->shm_size || h->source_len > SBX_MAX_SOURCE) return SBX_EXIT_SETUP;
    h->violation_nr = -1;
    h->phase = SBX_PHASE_START;
    h->died = 0;

    /* No core files (also not through a core_pattern pipe), no ptrace by other processes. */
    if (prctl(PR_SET_DUMPABLE, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return setup_failed(h, "prctl failed");
    if (getppid() == 1) return SBX_EXIT_SETUP; /* the host is already gone */
    rlim_t cpu = h->cpu_limit_s ? h->cpu_limit_s : 3600;
    /* 8 MiB of stack makes runaway recursion a quick SIGSEGV; no file may grow. */
    if (set_limit(RLIMIT_CORE, 0, 0) != 0 || set_limit(RLIMIT_FSIZE, 0, 0) != 0 ||
        set_limit(RLIMIT_STACK, 8u << 20, 8u << 20) != 0 ||
        set_limit(RLIMIT_CPU, cpu, cpu + 5) != 0 ||
        (h->mem_limit && set_limit(RLIMIT_AS, h->mem_limit, h->mem_limit) != 0))
        return setup_failed(h, "setrlimit failed");
    /* Never give memory back to the kernel: free() must not need brk/munmap in stage 2. */
    mallopt(M_TRIM_THRESHOLD, -1);
    /* A write to a dead executor must fail with EPIPE (and be reported as its death), not
     * kill this process; executors inherit it. */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &ign, NULL) != 0) return setup_failed(h, "sigaction failed");

    sbx_super s;
    sbx_image img;
    memset(&s, 0, sizeof s);
    memset(&img, 0, sizeof img);
    s.h = h;
    s.shm = shm;
    s.exec_pid = -1;
    s.e.kind = h->kind;
    s.e.hdr = h;
    s.e.shm = shm;
    s.e.layout = L;
    s.e.img = &img;
    /* two halves: token-level audits keep a per-pair list and a dense one (worker_audit.c) */
    s.audit_idx = calloc(2 * (size_t)h->max_rows, sizeof *s.audit_idx);
    if (sbx_eval_init(&s.e) != 0 || !s.audit_idx) {
        snprintf(h->msg, sizeof h->msg,
                 "sandbox worker: cannot allocate buffers for %d rows x %d columns within the "
                 "memory limit",
                 h->max_rows, h->max_cols);
        reply(h, DC_ERROR);
        return SBX_EXIT_SETUP;
    }
    if (make_executor_channels(&s) != 0) return setup_failed(h, "cannot set up the executor");

    if (sbx_sigsys_install(h) != 0 || sbx_lockdown_compile() != 0)
        return setup_failed(h, "could not install the seccomp filter");
    h->phase = SBX_PHASE_COMPILE;
    int status = sbx_compile(h->kind, (const char *)shm + L.source, h->source_len, &img, h->msg,
                             sizeof h->msg);
    if (status != DC_OK) {
        reply(h, status);
        raw_exit(0);
    }
    s.e.fn = img.fn;
    s.e.grad_fn = img.grad_fn;
    if (sbx_lockdown_supervisor() != 0) {
        setup_failed(h, "could not install the seccomp filter");
        raw_exit(SBX_EXIT_SETUP);
    }
    if (sbx_exec_start(&s) != 0) {
        reply(h, DC_ERROR);
        raw_exit(SBX_EXIT_SETUP);
    }
    /* Seeded only now: the persistent executor's copy of this process has no trace of it. */
    if (getrandom(&s.rng, sizeof s.rng, 0) != (ssize_t)sizeof s.rng) {
        setup_failed(h, "getrandom failed");
        raw_exit(SBX_EXIT_SETUP);
    }
    h->has_grad_fn = img.grad_fn != NULL;
    h->phase = SBX_PHASE_READY;
    h->msg[0] = '\0';
    reply(h, DC_OK);

    for (;;) {
        unsigned char b;
        ssize_t r = read(SBX_FD_SOCK, &b, 1);
        if (r != 1) raw_exit(0); /* host closed the socket: done (the executor follows) */
        h->msg[0] = '\0';
        int wstatus = 0;
        int verdict = serve(&s, &wstatus);
        if (verdict < 0) {
            h->died = 1;
            h->child_wstatus = wstatus;
            reply(h, DC_CRASH); /* the host maps child_wstatus to the precise status */
            raw_exit(0);
        }
        reply(h, verdict);
    }
}
