/* worker_main.c — discover-sandbox, the process a candidate objective lives and dies in.
 *
 * Started only by the host (sandbox_host.c) with fork+exec: fd 3 is the doorbell socket,
 * fd 4 the shared-memory memfd, 0–2 are /dev/null. Order of events:
 *   1. map the shared block (then close its descriptor), set resource limits, become
 *      non-dumpable, die with the parent, allocate every buffer the evaluation loop needs;
 *   2. seccomp stage 1, then compile + relocate with libtcc (the source is already in
 *      shared memory) and look up `objective`;
 *   3. seccomp stage 2 (read/write on fd 3, exit) and report "ready";
 *   4. serve requests until the host closes the socket.
 * Built WITHOUT sanitizers: their runtimes make system calls that stage 2 forbids. */
#define _GNU_SOURCE
#include "worker.h"

#include "common/status.h"

#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void raw_exit(int code) { syscall(SYS_exit_group, code); }

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

    /* No core files (also not through a core_pattern pipe), no ptrace by other processes. */
    if (prctl(PR_SET_DUMPABLE, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        snprintf(h->msg, sizeof h->msg, "sandbox worker: prctl failed");
        reply(h, DC_ERROR);
        return SBX_EXIT_SETUP;
    }
    if (getppid() == 1) return SBX_EXIT_SETUP; /* the host is already gone */
    rlim_t cpu = h->cpu_limit_s ? h->cpu_limit_s : 3600;
    /* 8 MiB of stack makes runaway recursion a quick SIGSEGV; no file may grow. */
    if (set_limit(RLIMIT_CORE, 0, 0) != 0 || set_limit(RLIMIT_FSIZE, 0, 0) != 0 ||
        set_limit(RLIMIT_STACK, 8u << 20, 8u << 20) != 0 ||
        set_limit(RLIMIT_CPU, cpu, cpu + 5) != 0 ||
        (h->mem_limit && set_limit(RLIMIT_AS, h->mem_limit, h->mem_limit) != 0)) {
        snprintf(h->msg, sizeof h->msg, "sandbox worker: setrlimit failed");
        reply(h, DC_ERROR);
        return SBX_EXIT_SETUP;
    }
    /* Never give memory back to the kernel: free() must not need brk/munmap in stage 2. */
    mallopt(M_TRIM_THRESHOLD, -1);

    sbx_eval_ctx e;
    memset(&e, 0, sizeof e);
    e.kind = h->kind;
    e.hdr = h;
    e.shm = shm;
    e.layout = L;
    if (sbx_eval_init(&e) != 0) {
        snprintf(h->msg, sizeof h->msg,
                 "sandbox worker: cannot allocate buffers for %d rows x %d columns within the "
                 "memory limit",
                 h->max_rows, h->max_cols);
        reply(h, DC_ERROR);
        return SBX_EXIT_SETUP;
    }

    if (sbx_lockdown_compile(h) != 0) {
        snprintf(h->msg, sizeof h->msg, "sandbox worker: could not install the seccomp filter");
        reply(h, DC_ERROR);
        return SBX_EXIT_SETUP;
    }
    h->phase = SBX_PHASE_COMPILE;
    int status = sbx_compile(h->kind, (const char *)shm + L.source, h->source_len, &e.fn,
                             &e.grad_fn, h->msg, sizeof h->msg);
    if (status != DC_OK) {
        reply(h, status);
        raw_exit(0);
    }
    if (sbx_lockdown_eval() != 0) {
        snprintf(h->msg, sizeof h->msg, "sandbox worker: could not install the seccomp filter");
        reply(h, DC_ERROR);
        raw_exit(SBX_EXIT_SETUP);
    }
    h->has_grad_fn = e.grad_fn != NULL;
    h->phase = SBX_PHASE_READY;
    h->msg[0] = '\0';
    reply(h, DC_OK);

    for (;;) {
        unsigned char b;
        ssize_t r = read(SBX_FD_SOCK, &b, 1);
        if (r != 1) raw_exit(0); /* host closed the socket: done */
        h->msg[0] = '\0';
        reply(h, sbx_eval_request(&e));
    }
}
