/* worker_exec.c — the executors: the only processes in which candidate code runs.
 *
 * The supervisor (worker_main.c) forks them after compiling, so each starts with the
 * relocated candidate and the evaluation buffers. Before the first candidate instruction an
 * executor unmaps every shared block but its own window, closes every descriptor but its
 * own channel, asks to die with the supervisor, turns off the time-stamp counter
 * (PR_SET_TSC: a clock would let an objective behave differently later in a run) and loads
 * its filter (worker_seccomp.c). What it can then write is its window and its private
 * memory; what it can say is one byte on its channel. It cannot reach the host's block or
 * doorbell, the supervisor's memory, or another executor's window.
 *
 * The persistent executor serves every request; a fresh executor is forked for one audited
 * call (worker_audit.c), evaluates it and exits, so the supervisor waits for it with wait4
 * and needs no channel at all. Neither waits with a timeout: the host's watchdog kills the
 * supervisor when a request takes too long, and executors die with it (PR_SET_PDEATHSIG). */
#define _GNU_SOURCE
#include "worker.h"

#include "common/status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void raw_exit(int code)
{
    syscall(SYS_exit_group, code);
}

/* In a new executor, before any candidate code: everything but `win` and `fd` goes.
 * Returns only when the lock-down is complete. */
static void become_executor(sbx_super *s, unsigned char *win, pid_t parent, int fd)
{
    sbx_sigsys_report_to((sbx_header *)win);
    size_t total = s->e.layout.total;
    if (munmap(s->shm, total) != 0) raw_exit(SBX_EXIT_SETUP);
    unsigned char *other = win == s->ewin ? s->awin : s->ewin;
    if (munmap(other, total) != 0) raw_exit(SBX_EXIT_SETUP);
    static const int fds[] = {SBX_FD_SOCK, SBX_FD_EXEC_PARENT, SBX_FD_EXEC};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (fds[i] != fd) close(fds[i]); /* EBADF when already closed: fine */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) raw_exit(SBX_EXIT_SETUP);
    if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV) != 0) raw_exit(SBX_EXIT_SETUP);
    if (sbx_lockdown_executor(fd) != 0) raw_exit(SBX_EXIT_SETUP);
    s->e.hdr = (sbx_header *)win;
    s->e.shm = win;
}

/* The persistent executor: one byte in, one request served, one byte out, until the
 * supervisor closes the channel. */
static void executor_loop(sbx_eval_ctx *e)
{
    unsigned char b = 0;
    /* "locked down": the supervisor reports ready only after this byte */
    if (write(SBX_FD_EXEC, &b, 1) != 1) raw_exit(0);
    for (;;) {
        if (read(SBX_FD_EXEC, &b, 1) != 1) raw_exit(0);
        e->hdr->msg[0] = '\0';
        e->hdr->status = sbx_eval_request(e);
        e->hdr->reply_seq = e->hdr->seq;
        b = (unsigned char)e->hdr->seq;
        if (write(SBX_FD_EXEC, &b, 1) != 1) raw_exit(0);
    }
}

/* Waits for child pid; its wait status. */
static int reap(pid_t pid)
{
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) return 0;
    return ws;
}

int sbx_exec_start(sbx_super *s)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(s->h->msg, sizeof s->h->msg, "sandbox worker: fork failed (%s)", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        become_executor(s, s->ewin, parent, SBX_FD_EXEC);
        executor_loop(&s->e);
    }
    s->exec_pid = pid;
    /* Its end must not stay open here: its death has to read as end-of-file. */
    close(SBX_FD_EXEC);
    unsigned char b;
    if (read(SBX_FD_EXEC_PARENT, &b, 1) != 1) {
        int ws = reap(pid);
        snprintf(s->h->msg, sizeof s->h->msg,
                 "sandbox worker: the executor could not lock itself down (wait status %#x)", ws);
        s->exec_pid = -1;
        return -1;
    }
    return 0;
}

void sbx_exec_copy_request(const sbx_super *s, unsigned char *win, int want_grad, int use_grad_fn)
{
    const sbx_header *h = s->h;
    sbx_header *wh = (sbx_header *)win;
    memcpy(wh, h, sizeof *wh);
    wh->want_grad = want_grad;
    wh->use_grad_fn = use_grad_fn;
    wh->status = DC_ERROR;
    wh->reply_seq = 0;
    wh->violation_nr = -1;
    wh->msg[0] = '\0';
    const sbx_layout *L = &s->e.layout;
    size_t mr = (size_t)h->max_rows, n = (size_t)h->n;
    const double *in = (const double *)(s->shm + L->in_real);
    double *out = (double *)(win + L->in_real);
    if (h->kind == 0) {
        for (size_t a = 0; a < 6; a++)
            memcpy(out + a * mr, in + a * mr, n * sizeof(double));
    } else if (h->kind == 2) {
        size_t k = (size_t)h->k;
        for (size_t a = 0; a < 6; a++)
            memcpy(out + a * mr, in + a * mr, k * sizeof(double));
        memcpy(win + L->in_int, s->shm + L->in_int, 4 * mr * sizeof(int32_t));
    } else {
        memcpy(out, in, n * (size_t)h->k * sizeof(double));
        memcpy(win + L->in_int, s->shm + L->in_int, n * sizeof(int32_t));
    }
}

/* The executor's verdict from its window: only what an honest executor says is believed
 * (anything else is its code speaking), and a message always ends inside the buffer. */
static int read_verdict(sbx_super *s, const sbx_header *wh, uint32_t seq)
{
    sbx_header *h = s->h;
    if (wh->reply_seq != seq || (wh->status != DC_OK && wh->status != DC_INVALID)) {
        snprintf(h->msg, sizeof h->msg,
                 "the objective tampered with the sandbox's executor (its reply to request %u "
                 "was malformed)",
                 seq);
        return DC_VIOLATION;
    }
    if (wh->status == DC_INVALID) {
        memcpy(h->msg, wh->msg, sizeof h->msg);
        h->msg[sizeof h->msg - 1] = '\0';
    }
    return wh->status;
}

int sbx_exec_run(sbx_super *s, int *wstatus)
{
    sbx_header *wh = (sbx_header *)s->ewin;
    sbx_exec_copy_request(s, s->ewin, s->h->want_grad, s->h->use_grad_fn);
    uint32_t seq = ++s->exec_seq;
    wh->seq = seq;
    unsigned char b = (unsigned char)seq;
    ssize_t r = write(SBX_FD_EXEC_PARENT, &b, 1);
    if (r == 1) r = read(SBX_FD_EXEC_PARENT, &b, 1);
    if (r != 1) { /* end of file (or a broken channel): the executor is gone */
        *wstatus = reap(s->exec_pid);
        s->exec_pid = -1;
        s->h->violation_nr = wh->violation_nr;
        return -1;
    }
    if (b != (unsigned char)seq) {
        snprintf(s->h->msg, sizeof s->h->msg,
                 "the objective tampered with the sandbox's executor (it answered a request "
                 "that was not asked)");
        return DC_VIOLATION;
    }
    return read_verdict(s, wh, seq);
}

int sbx_exec_fresh(sbx_super *s, int *wstatus)
{
    sbx_header *wh = (sbx_header *)s->awin;
    uint32_t seq = ++s->exec_seq;
    wh->seq = seq;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(s->h->msg, sizeof s->h->msg,
                 "sandbox worker: could not fork a fresh executor for an audit (%s)",
                 strerror(errno));
        return DC_ERROR;
    }
    if (pid == 0) {
        become_executor(s, s->awin, parent, -1);
        wh->status = sbx_eval_request(&s->e);
        wh->reply_seq = wh->seq;
        raw_exit(0);
    }
    int ws = reap(pid);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        *wstatus = ws;
        s->h->violation_nr = wh->violation_nr;
        return -1;
    }
    return read_verdict(s, wh, seq);
}
