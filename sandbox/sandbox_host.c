/* sandbox_host.c — the host side of the sandbox: start a worker, talk to it, watch it,
 * and turn its fate into a dc_status.
 *
 * The candidate never runs here. The worker is fork+exec'd (exec: it inherits no GPU,
 * SQLite or curl state, no descriptors but its own three, an empty environment), gets a
 * sealed memfd (the host's view cannot be truncated under it) and a socketpair doorbell.
 * Every wait is a poll() with a deadline; on expiry the host SIGKILLs the worker and
 * remembers that the kill was its own, which is what makes it a DC_TIMEOUT. The deadline of
 * a request follows from what the pre-screen measured (sbx_request_prediction), so a
 * candidate that is fast on the probes and slow on the training batch is stopped at its
 * first such request, and an honest objective whose cost grows with the batch is not.
 *
 * The process at the other end never runs candidate code (worker_main.c): its statuses and
 * its reports of an executor's death are its own. Everything is still range-checked. */
#define _GNU_SOURCE
#include "host_internal.h"

#include "common/paths.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void sbx_limits_default(sbx_limits *lim)
{
    lim->compile_timeout_s = 5.0;
    lim->call_timeout_s = 2.0;
    lim->mem_limit_bytes = (size_t)512 << 20;
    lim->max_rows = 4096;
    lim->max_cols = 64;
    lim->probe = (sbx_probe_shape){0};
}

void sbx_copy_msg(char *dst, size_t cap, const char *src)
{
    if (!cap) return;
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---------------------------------------------------------------- death and reaping */

static void reap(sbx_worker *w, int *wstatus)
{
    *wstatus = 0;
    if (w->pid <= 0) return;
    /* The worker normally is already exiting; give it a moment, then make sure. */
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(w->pid, wstatus, WNOHANG);
        if (r == w->pid || (r < 0 && errno != EINTR)) {
            w->pid = -1;
            return;
        }
        usleep(1000);
    }
    kill(w->pid, SIGKILL);
    while (waitpid(w->pid, wstatus, 0) < 0 && errno == EINTR) {
    }
    w->pid = -1;
}

static const char *signal_name(int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    static __thread char buf[32];
    if (abbrev) {
        snprintf(buf, sizeof buf, "SIG%s", abbrev);
        return buf;
    }
    snprintf(buf, sizeof buf, "signal %d", sig);
    return buf;
}

/* What bounds the request in flight (w->limit_kind), for the timeout's message. */
enum { LIMIT_FIXED = 0, LIMIT_PREDICTED = 1, LIMIT_BUDGET = 2 };

/* Maps how the worker ended to a status and a message. `compiling`: it died before it
 * reported ready (then the compiler, not the objective, was running). */
static dc_status map_death(sbx_worker *w, int wstatus, int we_killed, int compiling, char *msg,
                           size_t cap)
{
    const char *who = compiling ? "the compiler" : "the objective";
    if (we_killed) {
        if (compiling)
            dc_fmt(msg, cap,
                   "compiling took longer than %.1f s and was stopped (a macro that expands "
                   "too much?)",
                   w->lim.compile_timeout_s);
        else if (w->limit_kind == LIMIT_BUDGET)
            dc_fmt(msg, cap,
                   "the candidate used up its time budget of %g s (--candidate-timeout) and "
                   "was stopped",
                   w->budget_s);
        else if (w->limit_kind == LIMIT_PREDICTED)
            dc_fmt(msg, cap,
                   "the objective took more than %.2f s on a batch of %d rows and was stopped: "
                   "the pre-screen's probes predict %.2g s for it, so it was slower in training "
                   "than on the probes (work that only some batches trigger, or an endless "
                   "loop?)",
                   w->limit_s, w->limit_n, w->limit_predicted);
        else
            dc_fmt(msg, cap,
                   "the objective did not return within %.1f s and was stopped (an endless "
                   "loop?)",
                   w->limit_s);
        return DC_TIMEOUT;
    }
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        switch (sig) {
        case SIGSYS:
            dc_fmt(msg, cap, "%s made a forbidden system call (objectives may not do I/O)", who);
            return DC_VIOLATION;
        case SIGSEGV:
        case SIGBUS:
            dc_fmt(msg, cap,
                   "%s crashed with %s: a bad memory access or a stack overflow (deep "
                   "recursion, a huge local array)",
                   who, signal_name(sig));
            return DC_CRASH;
        case SIGFPE:
            dc_fmt(msg, cap,
                   "%s crashed with an arithmetic exception, e.g. integer division by zero", who);
            return DC_CRASH;
        case SIGXCPU:
            dc_fmt(msg, cap, "%s used up the worker's CPU-time limit and was stopped", who);
            return DC_TIMEOUT;
        case SIGKILL:
            dc_fmt(msg, cap, "%s was killed (SIGKILL; out of memory?)", who);
            return DC_CRASH;
        default:
            dc_fmt(msg, cap, "%s crashed with %s", who, signal_name(sig));
            return DC_CRASH;
        }
    }
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    if (code == SBX_EXIT_VIOLATION) {
        int nr = w->h->violation_nr; /* written by the worker: only used as a number */
        char *name = nr >= 0 ? seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr) : NULL;
        if (name)
            dc_fmt(msg, cap,
                   "%s made a forbidden system call (%s); objectives may only compute, no I/O "
                   "or processes",
                   who, name);
        else
            dc_fmt(msg, cap, "%s made a forbidden system call (number %d)", who, nr);
        free(name);
        return DC_VIOLATION;
    }
    /* These exit codes mean "could not start" only before the candidate ran: afterwards its
     * code can exit with any number it likes. */
    if (compiling && code == SBX_EXIT_SETUP) {
        dc_fmt(msg, cap, "the sandbox worker could not set itself up (resource limits or memory)");
        return DC_ERROR;
    }
    if (compiling && code == 127) {
        dc_fmt(msg, cap,
               "could not execute the sandbox worker 'discover-sandbox'; rebuild or set "
               "DISCOVER_WORKER");
        return DC_ERROR;
    }
    if (compiling) {
        /* tcc exits the process on some errors ("memory full" outside a compile); the
         * worker mirrors tcc's first message into shared memory as it happens. */
        char first[256];
        memcpy(first, w->h->msg, sizeof first - 1);
        first[sizeof first - 1] = '\0';
        for (char *p = first; *p; p++)
            if ((unsigned char)*p < 32) *p = ' ';
        dc_fmt(msg, cap,
               "the compiler stopped (exit status %d)%s%s, most likely out of memory: the "
               "worker's limit is %zu MiB, so avoid huge static arrays",
               code, first[0] ? ": " : "", first, w->lim.mem_limit_bytes >> 20);
        return DC_COMPILE_ERROR;
    }
    dc_fmt(msg, cap,
           "%s ended the worker process (exit status %d); objectives must return normally", who,
           code);
    return DC_CRASH;
}

/* Records a failure: kills the worker if it still runs and makes the status sticky. */
static dc_status fail(sbx_worker *w, dc_status st, const char *m, char *msg, size_t cap)
{
    if (w->pid > 0) {
        kill(w->pid, SIGKILL);
        int ws;
        reap(w, &ws);
    }
    if (w->sock >= 0) {
        close(w->sock);
        w->sock = -1;
    }
    w->dead = st;
    sbx_copy_msg(w->dead_msg, sizeof w->dead_msg, m);
    sbx_copy_msg(msg, cap, m);
    return st;
}

/* Waits for the worker's reply to request w->seq. */
static dc_status wait_reply(sbx_worker *w, double timeout_s, int compiling, char *msg, size_t cap)
{
    char m[512];
    double deadline = dc_now() + timeout_s;
    for (;;) {
        double left = deadline - dc_now();
        int ms = left <= 0 ? 0 : (int)ceil(left * 1000.0);
        struct pollfd p = {w->sock, POLLIN, 0};
        int r = left <= 0 ? 0 : poll(&p, 1, ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            dc_fmt(m, sizeof m, "sandbox: poll failed: %s", strerror(errno));
            return fail(w, DC_ERROR, m, msg, cap);
        }
        if (r == 0) {
            kill(w->pid, SIGKILL);
            int ws;
            reap(w, &ws);
            dc_status st = map_death(w, ws, 1, compiling, m, sizeof m);
            return fail(w, st, m, msg, cap);
        }
        unsigned char b;
        ssize_t n = recv(w->sock, &b, 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n == 1) {
            if (b != (unsigned char)w->seq || w->h->reply_seq != w->seq)
                return fail(w, DC_VIOLATION,
                            "the objective wrote to the sandbox's control channel (objectives "
                            "may not do I/O)",
                            msg, cap);
            return DC_OK;
        }
        /* End of stream: the worker is gone. */
        int ws;
        reap(w, &ws);
        dc_status st = map_death(w, ws, 0, compiling, m, sizeof m);
        return fail(w, st, m, msg, cap);
    }
}

/* The worker's own verdict for the last request. Candidate code never runs in the process
 * that writes it, but a second line of defence costs nothing: only the statuses an honest
 * worker sends in that phase are believed (a forged "interrupted" or "duplicate" would
 * otherwise steer the campaign). Compiling: ok, compile_error, violation, invalid, error;
 * evaluating: ok, invalid (a contract check), violation (an audit), error. */
static dc_status worker_verdict(sbx_worker *w, int evaluating, char *msg, size_t cap)
{
    int st = w->h->status;
    char m[sizeof w->h->msg];
    memcpy(m, w->h->msg, sizeof m);
    m[sizeof m - 1] = '\0';
    if (st == DC_OK) return DC_OK;
    int believed = st == DC_INVALID || st == DC_VIOLATION || st == DC_ERROR ||
                   (!evaluating && st == DC_COMPILE_ERROR);
    if (!believed) {
        dc_fmt(m, sizeof m, "the sandbox worker answered an unexpected status %d", st);
        st = DC_INVALID;
    }
    return fail(w, (dc_status)st, m, msg, cap);
}

/* ---------------------------------------------------------------- start-up */

static void child_exec(const char *path, int sock, int memfd, int devnull, pid_t parent)
{
    /* Only async-signal-safe calls between fork and exec. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    int s = fcntl(sock, F_DUPFD, 10), m = fcntl(memfd, F_DUPFD, 10);
    if (s < 0 || m < 0) _exit(127);
    if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
        dup2(s, SBX_FD_SOCK) != SBX_FD_SOCK || dup2(m, SBX_FD_SHM) != SBX_FD_SHM)
        _exit(127);
    /* Nothing else of the host's (SQLite files, sockets, GPU handles) may leak in. */
    if (syscall(SYS_close_range, SBX_FD_SHM + 1, ~0U, 0) != 0)
        for (int fd = SBX_FD_SHM + 1; fd < 65536; fd++)
            close(fd);
    /* Ignored signals stay ignored across exec, blocked ones stay blocked: reset both. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A Ctrl-C on the terminal goes to the whole foreground process group: the worker must
     * not die of it (the host would report a crash instead of an interrupt). It leaves the
     * group and ignores SIGINT/SIGTERM; it still dies with the host (PDEATHSIG) or by the
     * host's SIGKILL. */
    setpgid(0, 0);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    char *const argv[] = {(char *)"discover-sandbox", NULL};
    char *const envp[] = {NULL};
    execve(path, argv, envp);
    _exit(127);
}

dc_status sbx_open(sbx_kind kind, const char *source, size_t len, const sbx_limits *lim,
                   sbx_worker **out, char *msg, size_t msgcap)
{
    *out = NULL;
    sbx_limits L0;
    sbx_limits_default(&L0);
    if (!lim) lim = &L0;
    if (kind != SBX_PREF && kind != SBX_CLS && kind != SBX_TOKEN_PREF) {
        dc_fmt(msg, msgcap, "sandbox: unknown objective interface %d", (int)kind);
        return DC_ERROR;
    }
    if (lim->max_rows < 1 || lim->max_cols < 1 || lim->max_rows > (1 << 20) ||
        lim->max_cols > 4096 || lim->probe.classes < 0 || lim->probe.classes > lim->max_cols || !(lim->call_timeout_s > 0) || !(lim->compile_timeout_s > 0)) {
        dc_fmt(msg, msgcap, "sandbox: invalid limits (rows %d, cols %d, timeouts %g/%g s)",
               lim->max_rows, lim->max_cols, lim->compile_timeout_s, lim->call_timeout_s);
        return DC_ERROR;
    }
    if (!source) len = 0;
    if (len > SBX_MAX_SOURCE) {
        dc_fmt(msg, msgcap,
               "the source is %zu bytes; the limit is %u bytes (256 KiB): submit one objective, "
               "not a library",
               len, SBX_MAX_SOURCE);
        return DC_COMPILE_ERROR;
    }
    char path[PATH_MAX], err[512];
    if (dc_worker_path(path, sizeof path, err, sizeof err) != 0) {
        sbx_copy_msg(msg, msgcap, err);
        return DC_ERROR;
    }

    sbx_worker *w = dc_calloc(1, sizeof *w);
    w->pid = -1;
    w->sock = -1;
    w->kind = kind;
    w->lim = *lim;
    w->layout = sbx_compute_layout(lim->max_rows, lim->max_cols);
    /* objective_grad's audit draws: the candidate can neither read nor time this process */
    if (getrandom(&w->rng, sizeof w->rng, 0) != (ssize_t)sizeof w->rng)
        w->rng = (uint64_t)(dc_now() * 1e9) ^ ((uint64_t)getpid() << 32);
    int memfd = -1, sv[2] = {-1, -1}, devnull = -1;
    const char *what = NULL;

    memfd = memfd_create("discover-sandbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0)
        what = "memfd_create";
    else if (ftruncate(memfd, (off_t)w->layout.total) != 0)
        what = "ftruncate";
    else if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        what = "sealing the shared memory";
    if (!what) {
        w->shm = mmap(NULL, w->layout.total, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (w->shm == MAP_FAILED) {
            w->shm = NULL;
            what = "mmap";
        }
    }
    if (!what && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) what = "socketpair";
    if (!what && (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) what = "open /dev/null";
    if (what) {
        dc_fmt(msg, msgcap, "sandbox: %s failed: %s", what, strerror(errno));
        goto fail_setup;
    }

    w->h = (sbx_header *)w->shm;
    sbx_header *h = w->h;
    memset(h, 0, sizeof *h);
    h->magic = SBX_MAGIC;
    h->version = SBX_VERSION;
    h->kind = kind;
    h->max_rows = lim->max_rows;
    h->max_cols = lim->max_cols;
    h->source_len = (uint32_t)len;
    h->shm_size = w->layout.total;
    h->mem_limit = lim->mem_limit_bytes;
    h->cpu_limit_s = 3600;
    h->violation_nr = -1;
    if (len) memcpy(w->shm + w->layout.source, source, len);
    w->shm[w->layout.source + len] = '\0';

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        dc_fmt(msg, msgcap, "sandbox: fork failed: %s", strerror(errno));
        goto fail_setup;
    }
    if (pid == 0) child_exec(path, sv[1], memfd, devnull, parent);
    w->pid = pid;
    close(sv[1]);
    close(memfd);
    close(devnull);
    w->sock = sv[0];
    w->seq = 0;

    dc_status st = wait_reply(w, lim->compile_timeout_s, 1, msg, msgcap);
    if (st == DC_OK) st = worker_verdict(w, 0, msg, msgcap);
    if (st != DC_OK) {
        sbx_close(w);
        return st;
    }
    /* Only a flag, and never trusted further: objective_grad is used only after
     * sbx_prescreen has compared it with central differences. */
    w->has_grad_fn = h->has_grad_fn == 1;
    w->use_grad_fn = 0;
    *out = w;
    return DC_OK;

fail_setup:
    if (memfd >= 0) close(memfd);
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    if (devnull >= 0) close(devnull);
    if (w->shm) munmap(w->shm, w->layout.total);
    free(w);
    return DC_ERROR;
}

void sbx_close(sbx_worker *w)
{
    if (!w) return;
    if (w->sock >= 0) close(w->sock); /* the worker reads EOF and exits */
    w->sock = -1;
    if (w->pid > 0) {
        int ws;
        reap(w, &ws);
    }
    if (w->shm) munmap(w->shm, w->layout.total);
    free(w);
}

int sbx_is_separable(const sbx_worker *w)
{
    return w ? w->separable : 0;
}

int sbx_uses_grad_fn(const sbx_worker *w)
{
    return w ? w->use_grad_fn : 0;
}

const char *sbx_grad_note(const sbx_worker *w)
{
    return w ? w->grad_note : "";
}

double sbx_seconds_in_calls(const sbx_worker *w)
{
    return w ? w->seconds : 0;
}

/* ---------------------------------------------------------------- requests */

/* Candidate calls one request makes in the worker (sandbox/worker_eval.c): one for losses;
 * with gradients one of objective_grad, or 1 + 2 per trainable column (row-separable path)
 * or 1 + 2 per trainable input (exact path). */
static double candidate_calls(const sbx_worker *w, int n, int k, int want_grad, int grad_fn)
{
    if (!want_grad || grad_fn) return 1;
    if (w->kind == SBX_TOKEN_PREF) /* positions of the longest responses, or every token */
        return w->separable ? 1 + 2.0 * w->tok_positions : 1 + 4.0 * k;
    double cols = w->kind == SBX_PREF ? 2 : k;
    return w->separable ? 1 + 2 * cols : 1 + 2 * cols * n;
}

/* Seconds of one candidate call on a batch of n rows, from the pre-screen's loss-only
 * requests: linear in the batch's size below the largest probe (an over-estimate for an
 * objective that is super-linear), quadratic above it (a pairwise objective must not time
 * out on a batch larger than every probe), never below the fastest small request (its
 * fixed costs: the round trip, the executor's restore). */
static double call_cost(const sbx_worker *w, int n, int k)
{
    double size = w->kind == SBX_PREF ? n : w->kind == SBX_TOKEN_PREF ? k : (double)n * k;
    double r = size / w->size_large;
    return fmax(w->cost_small, w->cost_large * (r > 1 ? r * r : r));
}

double sbx_request_prediction(const sbx_worker *w, int n, int k, int want_grad)
{
    if (!w || !w->timed) return 0;
    /* + 3: an audited request also runs up to three fresh calls (worker_audit.c) */
    return (candidate_calls(w, n, k, want_grad, want_grad && w->use_grad_fn) + 3) *
           call_cost(w, n, k);
}

void sbx_set_time_budget(sbx_worker *w, double seconds)
{
    if (!w) return;
    w->budget_s = seconds > 0 ? seconds : 0;
    w->deadline = seconds > 0 ? dc_now() + seconds : 0;
}

/* The pre-screen's loss-only requests are the measurements the predictions start from. */
static void note_cost(sbx_worker *w, int n, int k, double seconds)
{
    double size = w->kind == SBX_PREF ? n : w->kind == SBX_TOKEN_PREF ? k : (double)n * k;
    if (w->cost_small == 0 || seconds < w->cost_small) w->cost_small = seconds;
    if (size > w->size_large) {
        w->size_large = size;
        w->cost_large = seconds;
    } else if (size == w->size_large && seconds < w->cost_large) {
        w->cost_large = seconds;
    }
}

/* The wall-clock limit of the next request, and what it is for the timeout's message;
 * -1 when the time budget is already spent. */
static double request_limit(sbx_worker *w, int n, int k, int want_grad)
{
    w->limit_kind = LIMIT_FIXED;
    w->limit_s = w->lim.call_timeout_s;
    w->limit_n = n;
    w->limit_predicted = sbx_request_prediction(w, n, k, want_grad);
    if (w->timed) {
        w->limit_kind = LIMIT_PREDICTED;
        w->limit_s = fmax(w->lim.call_timeout_s / 4, SBX_SLOWDOWN_FACTOR * w->limit_predicted);
    }
    if (w->deadline > 0) {
        double left = w->deadline - dc_now();
        if (left <= 0) return -1;
        if (left < w->limit_s) {
            w->limit_kind = LIMIT_BUDGET;
            w->limit_s = left;
        }
    }
    return w->limit_s;
}

/* How an executor died, as the worker reports it before exiting. */
static dc_status executor_death(sbx_worker *w, char *msg, size_t cap)
{
    char m[400], full[512];
    int ws = w->h->child_wstatus, in_audit = w->h->died_in_audit == 1;
    dc_status st = map_death(w, ws, 0, 0, m, sizeof m);
    dc_fmt(full, sizeof full, "%s%s", m,
           in_audit ? " (in a fresh copy of the sandbox re-checking one of its answers)" : "");
    return fail(w, st, full, msg, cap);
}

static dc_status request(sbx_worker *w, int n, int k, double beta, int want_grad, char *msg,
                         size_t cap)
{
    sbx_header *h = w->h;
    double limit = request_limit(w, n, k, want_grad);
    if (limit < 0) {
        char m[256];
        dc_fmt(m, sizeof m,
               "the candidate used up its time budget of %g s (--candidate-timeout) and was "
               "stopped",
               w->budget_s);
        return fail(w, DC_TIMEOUT, m, msg, cap);
    }
    h->op = SBX_OP_EVAL;
    h->n = n;
    h->k = k;
    h->beta = beta;
    h->want_grad = want_grad;
    h->separable = w->separable;
    h->use_grad_fn = want_grad && w->use_grad_fn;
    h->died = 0;
    h->died_in_audit = 0;
    h->seq = ++w->seq;
    unsigned char b = (unsigned char)w->seq;
    ssize_t r;
    /* Never block here: an honest worker has read every earlier byte before replying, so a
     * full socket means something other than the worker's loop answers requests without
     * reading them, and the host would hang forever in send(). */
    do
        r = send(w->sock, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return fail(w, DC_VIOLATION,
                    "the objective tampered with the sandbox's control channel (it stopped "
                    "reading requests)",
                    msg, cap);
    if (r != 1) { /* the worker died between requests */
        char m[512];
        int ws;
        reap(w, &ws);
        dc_status st = map_death(w, ws, 0, 0, m, sizeof m);
        return fail(w, st, m, msg, cap);
    }
    double t0 = dc_now();
    dc_status st = wait_reply(w, limit, 0, msg, cap);
    if (st != DC_OK) return st;
    if (h->died == 1) return executor_death(w, msg, cap);
    st = worker_verdict(w, 1, msg, cap);
    if (st == DC_OK && !w->timed && !want_grad) note_cost(w, n, k, dc_now() - t0);
    return st;
}

static const char *nonfinite_word(double v)
{
    return isnan(v) ? "NaN" : "infinite";
}

/* ---------------------------------------------------------------- objective_grad */

/* The tolerance, 1e-6 of the element plus 1e-6 of the batch's largest gradient (at least
 * 1e-9), is about 100 times the central differences' own error (7e-9 relative,
 * worker_eval.c): wide enough for rounding, narrow enough for any real mistake (a wrong
 * factor, sign or missing term) in all but the batch's smallest elements. */
int sbx_grads_disagree(sbx_kind kind, int n, int k, const double *ln, const double *gn,
                       const double *la, const double *ga, const char *what, char *note, size_t cap)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(la[i] - ln[i]) <= 1e-9 * fmax(1.0, fabs(ln[i])))) {
            dc_fmt(note, cap,
                   "objective_grad is not used: on the %s its loss[%d] is %.10g but objective "
                   "gives %.10g (both must compute the same loss)",
                   what, i, la[i], ln[i]);
            return 1;
        }
    size_t g = sbx_grad_len(kind, n, k);
    double scale = 1e-3;
    for (size_t i = 0; i < g; i++)
        scale = fmax(scale, fabs(gn[i]));
    for (size_t i = 0; i < g; i++) {
        if (fabs(ga[i] - gn[i]) <= 1e-6 * (fabs(gn[i]) + scale)) continue;
        char where[64];
        if (kind == SBX_PREF)
            dc_fmt(where, sizeof where, "%s[%zu]", i < (size_t)n ? "d_chosen" : "d_rejected",
                   i % (size_t)n);
        else if (kind == SBX_TOKEN_PREF)
            dc_fmt(where, sizeof where, "%s[%zu]", i < (size_t)k ? "d_chosen" : "d_rejected",
                   i % (size_t)k);
        else
            dc_fmt(where, sizeof where, "d_logits[%zu][%zu]", i / (size_t)k, i % (size_t)k);
        dc_fmt(note, cap,
               "objective_grad is not used: on the %s its %s is %.8g but central differences "
               "give %.8g (it must return d(sum of losses)/d input); gradients come from "
               "central differences",
               what, where, ga[i], gn[i]);
        return 1;
    }
    return 0;
}

/* Host buffers back into the reply area (the worker is idle between requests): after an
 * audit that passed, the call answers with objective_grad's own values. */
static void put_reply(sbx_worker *w, int n, int k, const double *loss, const double *grad)
{
    double *ol = (double *)(w->shm + w->layout.loss);
    double *og = (double *)(w->shm + w->layout.grad);
    memcpy(ol, loss, (size_t)n * sizeof(double));
    if (w->kind != SBX_CLS) {
        size_t per = sbx_grad_len(w->kind, n, k) / 2;
        memcpy(og, grad, per * sizeof(double));
        memcpy(og + w->lim.max_rows, grad + per, per * sizeof(double));
    } else {
        memcpy(og, grad, (size_t)n * (size_t)k * sizeof(double));
    }
}

/* The last reply's losses and gradients from shared memory into host buffers (gradients of
 * pairs as d_chosen[n] then d_rejected[n]). */
static void copy_reply(const sbx_worker *w, int n, int k, double *loss, double *grad)
{
    const double *ol = (const double *)(w->shm + w->layout.loss);
    const double *og = (const double *)(w->shm + w->layout.grad);
    memcpy(loss, ol, (size_t)n * sizeof(double));
    if (w->kind != SBX_CLS) {
        size_t per = sbx_grad_len(w->kind, n, k) / 2;
        memcpy(grad, og, per * sizeof(double));
        memcpy(grad + per, og + w->lim.max_rows, per * sizeof(double));
    } else {
        memcpy(grad, og, (size_t)n * (size_t)k * sizeof(double));
    }
}

static int finite_all(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* One objective_grad answer in this many is compared with central differences. */
#define GRAD_AUDIT_ONE_IN 32

/* Whether this objective_grad answer is compared with central differences: the first of
 * every batch size (a formula that only goes wrong for large batches), and a random draw
 * (one that goes wrong now and then): about 60 audits in a 2,000-step run. The draws come
 * from this process, which the candidate cannot read; with its memory restored before every
 * call it cannot count calls either, and the worker's own audits (worker_audit.c) catch one
 * that keeps a count anyway. A schedule it could predict (the 1st, 2nd, 4th, 8th, ... call,
 * as before) let a candidate lie on every other call. */
static int audit_due(sbx_worker *w, int n)
{
    int seen = 0;
    for (int i = 0; i < w->naudited && !seen; i++)
        seen = w->audited_n[i] == n;
    if (!seen && w->naudited < (int)(sizeof w->audited_n / sizeof *w->audited_n)) {
        w->audited_n[w->naudited++] = n;
        return 1;
    }
    /* splitmix64 */
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return !seen || z % GRAD_AUDIT_ONE_IN == 0;
}

/* One request; with gradients from a checked objective_grad when there is one. Such an
 * answer that is non-finite, or due for an audit (audit_due) and found to disagree with
 * central differences on the same batch, switches objective_grad off for good (the note
 * says when and why) and this call returns the central differences' answer: the analytic
 * path can make a step faster, never wrong. An audit that passes answers with
 * objective_grad's values, as every other call does. */
static dc_status eval_request(sbx_worker *w, int n, int k, double beta, int want, char *msg,
                              size_t cap)
{
    dc_status st = request(w, n, k, beta, want, msg, cap);
    if (st != DC_OK || !want || !w->use_grad_fn || w->probing_grad) return st;
    size_t g = sbx_grad_len(w->kind, n, k);
    double *la = dc_malloc((size_t)n * sizeof(double)), *ga = dc_malloc(g * sizeof(double));
    copy_reply(w, n, k, la, ga);
    w->grad_calls++;
    int finite = finite_all(la, (size_t)n) && finite_all(ga, g);
    if (finite && !audit_due(w, n)) {
        free(la);
        free(ga);
        return DC_OK;
    }
    w->use_grad_fn = 0; /* the same batch again (its inputs are still in place), numerically */
    st = request(w, n, k, beta, want, msg, cap);
    if (st == DC_OK) {
        double *ln = dc_malloc((size_t)n * sizeof(double)), *gn = dc_malloc(g * sizeof(double));
        copy_reply(w, n, k, ln, gn);
        char what[64], note[sizeof w->grad_note];
        dc_fmt(what, sizeof what, "training batch of gradient call %ld (n = %d)", w->grad_calls, n);
        if (!finite) {
            dc_fmt(w->grad_note, sizeof w->grad_note,
                   "objective_grad stopped being used at gradient call %ld (n = %d): it gave "
                   "a non-finite value; gradients come from central differences",
                   w->grad_calls, n);
        } else if (sbx_grads_disagree(w->kind, n, k, ln, gn, la, ga, what, note, sizeof note)) {
            dc_fmt(w->grad_note, sizeof w->grad_note, "%s", note);
        } else {
            w->use_grad_fn = 1; /* the audit passed: answer with objective_grad's values */
            put_reply(w, n, k, la, ga);
        }
        free(ln);
        free(gn);
    }
    free(la);
    free(ga);
    return st;
}

dc_status sbx_pref_eval(sbx_worker *w, const pref_batch *b, double *loss, double *d_chosen,
                        double *d_rejected, char *msg, size_t msgcap)
{
    if (!w) {
        dc_fmt(msg, msgcap, "sandbox: no worker");
        return DC_ERROR;
    }
    if (w->dead != DC_OK) {
        sbx_copy_msg(msg, msgcap, w->dead_msg);
        return w->dead;
    }
    if (w->kind != SBX_PREF) {
        dc_fmt(msg, msgcap, "sandbox: this worker holds a classification objective");
        return DC_ERROR;
    }
    if (!b || !loss || b->n < 1 || b->n > w->lim.max_rows) {
        dc_fmt(msg, msgcap, "sandbox: batch of %d pairs is outside 1..%d", b ? b->n : 0,
               w->lim.max_rows);
        return DC_ERROR;
    }
    const double *src[6] = {b->chosen_logps,       b->rejected_logps, b->ref_chosen_logps,
                            b->ref_rejected_logps, b->chosen_lens,    b->rejected_lens};
    for (int a = 0; a < 6; a++)
        if (!src[a]) {
            dc_fmt(msg, msgcap, "sandbox: pref_batch field %d is NULL; all six arrays are required",
                   a);
            return DC_ERROR;
        }
    double t0 = dc_now();
    size_t mr = (size_t)w->lim.max_rows, n = (size_t)b->n;
    double *in = (double *)(w->shm + w->layout.in_real);
    for (int a = 0; a < 6; a++)
        memcpy(in + a * mr, src[a], n * sizeof(double));
    int want = d_chosen || d_rejected;
    dc_status st = eval_request(w, b->n, 0, b->beta, want, msg, msgcap);
    w->seconds += dc_now() - t0;
    if (st != DC_OK) return st;
    const double *ol = (const double *)(w->shm + w->layout.loss);
    const double *og = (const double *)(w->shm + w->layout.grad);
    memcpy(loss, ol, n * sizeof(double));
    if (d_chosen) memcpy(d_chosen, og, n * sizeof(double));
    if (d_rejected) memcpy(d_rejected, og + mr, n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const char *what = NULL;
        double v = 0;
        /* Check the host's copies, never shared memory: the worker could change it after
         * replying. */
        if (!isfinite(loss[i]))
            what = "loss", v = loss[i];
        else if (d_chosen && !isfinite(d_chosen[i]))
            what = "gradient d/d chosen_logps", v = d_chosen[i];
        else if (d_rejected && !isfinite(d_rejected[i]))
            what = "gradient d/d rejected_logps", v = d_rejected[i];
        if (what) {
            char m[512];
            dc_fmt(m, sizeof m,
                   "%s is %s for row %zu (chosen_logps=%.4g, rejected_logps=%.4g, "
                   "ref_chosen_logps=%.4g, ref_rejected_logps=%.4g, beta=%g)",
                   what, nonfinite_word(v), i, src[0][i], src[1][i], src[2][i], src[3][i], b->beta);
            if (w->probing_grad) { /* objective_grad on a probe: the pre-screen decides */
                sbx_copy_msg(msg, msgcap, m);
                return DC_NONFINITE;
            }
            return fail(w, DC_NONFINITE, m, msg, msgcap);
        }
    }
    return DC_OK;
}

/* The per-pair arrays of a token-level batch are usable: lengths >= 1, every response inside
 * its flat array, no two responses of one side sharing a token (the separable gradient path
 * moves one token of every pair at once, which needs them apart). */
static int token_ranges_valid(const token_pref_batch *b, int tc, int tr, char *msg, size_t cap)
{
    const int *offs[2] = {b->chosen_off, b->rejected_off}, *lens[2] = {b->chosen_len,
                                                                       b->rejected_len};
    const int tot[2] = {tc, tr};
    static const char *const side_name[2] = {"chosen", "rejected"};
    for (int side = 0; side < 2; side++) {
        unsigned char *used = dc_calloc((size_t)tot[side], 1);
        for (int i = 0; i < b->n; i++) {
            long off = offs[side][i], len = lens[side][i];
            int bad = off < 0 || len < 1 || off + len > tot[side];
            for (long t = 0; t < len && !bad; t++)
                bad = used[off + t]++ != 0;
            if (bad) {
                dc_fmt(msg, cap,
                       "sandbox: pair %d's %s response (offset %ld, %ld tokens) is empty, "
                       "outside its %d tokens or overlaps another pair's",
                       i, side_name[side], off, len, tot[side]);
                free(used);
                return 0;
            }
        }
        free(used);
    }
    return 1;
}

dc_status sbx_token_eval(sbx_worker *w, const token_pref_batch *b, int tokens_chosen,
                         int tokens_rejected, double *loss, double *d_chosen, double *d_rejected,
                         char *msg, size_t msgcap)
{
    if (!w) {
        dc_fmt(msg, msgcap, "sandbox: no worker");
        return DC_ERROR;
    }
    if (w->dead != DC_OK) {
        sbx_copy_msg(msg, msgcap, w->dead_msg);
        return w->dead;
    }
    if (w->kind != SBX_TOKEN_PREF) {
        dc_fmt(msg, msgcap, "sandbox: this worker does not hold a token-level objective");
        return DC_ERROR;
    }
    int mrows = w->lim.max_rows;
    if (!b || !loss || b->n < 1 || b->n > mrows || tokens_chosen < 1 || tokens_rejected < 1 ||
        tokens_chosen > mrows || tokens_rejected > mrows) {
        dc_fmt(msg, msgcap, "sandbox: token batch of %d pairs, %d + %d tokens is outside 1..%d",
               b ? b->n : 0, tokens_chosen, tokens_rejected, mrows);
        return DC_ERROR;
    }
    const double *src[6] = {b->chosen_logps,       b->rejected_logps, b->ref_chosen_logps,
                            b->ref_rejected_logps, b->chosen_sim,     b->rejected_sim};
    const int *isrc[4] = {b->chosen_off, b->rejected_off, b->chosen_len, b->rejected_len};
    for (int a = 0; a < 10; a++)
        if (a < 6 ? !src[a] : !isrc[a - 6]) {
            dc_fmt(msg, msgcap, "sandbox: token_pref_batch array %d is NULL; all ten are required",
                   a);
            return DC_ERROR;
        }
    if (!token_ranges_valid(b, tokens_chosen, tokens_rejected, msg, msgcap)) return DC_ERROR;
    double t0 = dc_now();
    size_t mr = (size_t)mrows, n = (size_t)b->n;
    int k = tokens_chosen > tokens_rejected ? tokens_chosen : tokens_rejected;
    /* both sides padded to k tokens with zeros no response covers (protocol.h) */
    double *in = (double *)(w->shm + w->layout.in_real);
    for (int a = 0; a < 6; a++) {
        size_t have = (size_t)(a % 2 ? tokens_rejected : tokens_chosen);
        memcpy(in + a * mr, src[a], have * sizeof(double));
        memset(in + a * mr + have, 0, ((size_t)k - have) * sizeof(double));
    }
    int32_t *ii = (int32_t *)(w->shm + w->layout.in_int);
    int longest[2] = {0, 0};
    for (int a = 0; a < 4; a++)
        for (size_t i = 0; i < n; i++) {
            ii[(size_t)a * mr + i] = isrc[a][i];
            if (a >= 2 && isrc[a][i] > longest[a - 2]) longest[a - 2] = isrc[a][i];
        }
    w->tok_positions = longest[0] + longest[1];
    int want = d_chosen || d_rejected;
    dc_status st = eval_request(w, b->n, k, b->beta, want, msg, msgcap);
    w->seconds += dc_now() - t0;
    if (st != DC_OK) return st;
    const double *ol = (const double *)(w->shm + w->layout.loss);
    const double *og = (const double *)(w->shm + w->layout.grad);
    memcpy(loss, ol, n * sizeof(double));
    if (d_chosen) memcpy(d_chosen, og, (size_t)tokens_chosen * sizeof(double));
    if (d_rejected) memcpy(d_rejected, og + mr, (size_t)tokens_rejected * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const char *what = NULL;
        double v = 0;
        long tok = -1;
        /* the host's copies, never shared memory */
        if (!isfinite(loss[i])) what = "loss", v = loss[i];
        for (int side = 0; side < 2 && !what; side++) {
            const double *g = side ? d_rejected : d_chosen;
            int off = side ? b->rejected_off[i] : b->chosen_off[i];
            int len = side ? b->rejected_len[i] : b->chosen_len[i];
            for (int t = 0; g && t < len && !what; t++)
                if (!isfinite(g[off + t])) {
                    what = side ? "gradient d/d rejected_logps" : "gradient d/d chosen_logps";
                    v = g[off + t];
                    tok = t;
                }
        }
        if (what) {
            char m[512], at[32] = "";
            if (tok >= 0) dc_fmt(at, sizeof at, ", token %ld", tok);
            dc_fmt(m, sizeof m,
                   "%s is %s for pair %zu%s (%d chosen and %d rejected tokens, first tokens' "
                   "logps %.4g and %.4g, beta=%g)",
                   what, nonfinite_word(v), i, at, b->chosen_len[i], b->rejected_len[i], b->chosen_logps[b->chosen_off[i]],
                   b->rejected_logps[b->rejected_off[i]], b->beta);
            if (w->probing_grad) {
                sbx_copy_msg(msg, msgcap, m);
                return DC_NONFINITE;
            }
            return fail(w, DC_NONFINITE, m, msg, msgcap);
        }
    }
    return DC_OK;
}

dc_status sbx_cls_eval(sbx_worker *w, int n, int k, const double *logits, const int *labels,
                       double *loss, double *d_logits, char *msg, size_t msgcap)
{
    if (!w) {
        dc_fmt(msg, msgcap, "sandbox: no worker");
        return DC_ERROR;
    }
    if (w->dead != DC_OK) {
        sbx_copy_msg(msg, msgcap, w->dead_msg);
        return w->dead;
    }
    if (w->kind != SBX_CLS) {
        dc_fmt(msg, msgcap, "sandbox: this worker holds a preference objective");
        return DC_ERROR;
    }
    if (n < 1 || n > w->lim.max_rows || k < 1 || k > w->lim.max_cols || !logits || !labels ||
        !loss) {
        dc_fmt(msg, msgcap, "sandbox: batch %d x %d is outside 1..%d x 1..%d", n, k,
               w->lim.max_rows, w->lim.max_cols);
        return DC_ERROR;
    }
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k) {
            dc_fmt(msg, msgcap, "sandbox: label %d of row %d is outside [0, %d)", labels[i], i, k);
            return DC_ERROR;
        }
    double t0 = dc_now();
    size_t cnt = (size_t)n * (size_t)k;
    memcpy(w->shm + w->layout.in_real, logits, cnt * sizeof(double));
    int32_t *lab = (int32_t *)(w->shm + w->layout.in_int);
    for (int i = 0; i < n; i++)
        lab[i] = labels[i];
    dc_status st = eval_request(w, n, k, 0.0, d_logits != NULL, msg, msgcap);
    w->seconds += dc_now() - t0;
    if (st != DC_OK) return st;
    const double *ol = (const double *)(w->shm + w->layout.loss);
    const double *og = (const double *)(w->shm + w->layout.grad);
    memcpy(loss, ol, (size_t)n * sizeof(double));
    if (d_logits) memcpy(d_logits, og, cnt * sizeof(double));
    for (int i = 0; i < n; i++) {
        int bad_j = -1;
        double v = loss[i];
        if (isfinite(v) && d_logits)
            for (int j = 0; j < k; j++)
                if (!isfinite(d_logits[(size_t)i * k + j])) { /* the host's copy */
                    bad_j = j;
                    v = d_logits[(size_t)i * k + j];
                    break;
                }
        if (!isfinite(v)) {
            char m[512];
            const double *row = logits + (size_t)i * k;
            double lo = row[0], hi = row[0];
            for (int j = 1; j < k; j++)
                lo = fmin(lo, row[j]), hi = fmax(hi, row[j]);
            if (bad_j < 0)
                dc_fmt(m, sizeof m, "loss is %s for row %d (label %d, logits in [%.4g, %.4g])",
                       nonfinite_word(v), i, labels[i], lo, hi);
            else
                dc_fmt(m, sizeof m,
                       "gradient d/d logits[%d][%d] is %s (label %d, logits in [%.4g, %.4g])", i,
                       bad_j, nonfinite_word(v), labels[i], lo, hi);
            if (w->probing_grad) { /* objective_grad on a probe: the pre-screen decides */
                sbx_copy_msg(msg, msgcap, m);
                return DC_NONFINITE;
            }
            return fail(w, DC_NONFINITE, m, msg, msgcap);
        }
    }
    return DC_OK;
}
