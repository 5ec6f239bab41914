/* mpi_pool.c — the MPI relay of a campaign across machines (see mpi_pool.h).
 *
 * Why a relay thread that copies bytes, rather than evaluators that speak MPI: the campaign
 * keeps one pool loop that waits with poll() on descriptors (other descriptors join that
 * set: LLM proposals, progress), the messages stay those of evaluator.h (one code path,
 * so an MPI campaign is the --jobs campaign with the same seed), MPI is confined to one
 * thread (MPI_THREAD_FUNNELED is all it needs, and Open MPI's blocking calls, which spin,
 * are never made: the relay polls with MPI_Iprobe/MPI_Test and 2 ms sleeps, which matters
 * on an oversubscribed machine), and a candidate that kills its evaluator kills a child
 * process, not the rank, so the job goes on. The evaluator is fork+exec'd from the relay
 * (Open MPI's fork warning is about fork without exec under registered memory; the
 * child execs at once and never calls MPI).
 *
 * The wire: every MPI message on the relay's communicator has tag RELAY_TAG and starts with
 * a kind byte and the sequence number of the evaluator process it concerns (each START
 * begins a new one), so nothing meant for an evaluator that ended reaches its successor:
 *
 *   rank 0 → k   START n | DATA n bytes | STOP n grace | SIGNAL n sig | QUIT | HEART
 *   rank k → 0   HELLO host | DATA n bytes | ENDED n how | BYE | HEART
 *
 * DATA is a piece of the byte stream between the campaign and the evaluator (evaluator.h's
 * framed messages, cut anywhere); ENDED says the process n ended (after all its DATA). */
#define _GNU_SOURCE
#include "mpi_pool.h"

#include "common/util.h"
#include "evaluator.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RELAY_TAG 7013
#define CHUNK (64 * 1024)
#define HEART_S 2.0
#define POLL_MS 2

enum { K_START = 'S', K_DATA = 'D', K_STOP = 'T', K_SIGNAL = 'G', K_QUIT = 'Q', K_HEART = 'H',
       K_HELLO = 'I', K_ENDED = 'E', K_BYE = 'B' };
#define HDR 5 /* kind byte + uint32 sequence */

typedef struct {
    char *p;
    size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *p, size_t n)
{
    if (n == 0) return;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = dc_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void bytes_drop(bytes *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static void bytes_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- sends: non-blocking, completed by later tests ---- */

typedef struct {
    MPI_Request req;
    char *buf;
} pending;

static struct {
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready, init_rc;
    char init_err[256];
    int rank, size, local_rank, node_evaluators, rc;
    MPI_Comm comm;
    pending *sends;
    int nsends, capsends;
    int quit; /* rank 0: dc_mpi_finish asked */
    struct link *links;
    char term_msg[1536];
} G = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void send_msg(int to, int kind, uint32_t seq, const void *payload, size_t n)
{
    char *buf = dc_malloc(HDR + n + 1);
    buf[0] = (char)kind;
    memcpy(buf + 1, &seq, 4);
    if (n) memcpy(buf + HDR, payload, n);
    if (G.nsends == G.capsends) {
        G.capsends = G.capsends ? 2 * G.capsends : 16;
        G.sends = dc_realloc(G.sends, (size_t)G.capsends * sizeof *G.sends);
    }
    pending *p = &G.sends[G.nsends++];
    p->buf = buf;
    MPI_Isend(buf, (int)(HDR + n), MPI_BYTE, to, RELAY_TAG, G.comm, &p->req);
}

static void send_text(int to, int kind, uint32_t seq, const char *text)
{
    send_msg(to, kind, seq, text, strlen(text));
}

/* Frees the sends that completed (MPI progresses the others meanwhile). */
static void test_sends(void)
{
    int kept = 0;
    for (int i = 0; i < G.nsends; i++) {
        int done = 0;
        MPI_Test(&G.sends[i].req, &done, MPI_STATUS_IGNORE);
        if (done)
            free(G.sends[i].buf);
        else
            G.sends[kept++] = G.sends[i];
    }
    G.nsends = kept;
}

/* One received message (buf malloc'ed, at least HDR bytes), or 0 when none is waiting. */
static int recv_msg(int *from, char **buf, int *len)
{
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, RELAY_TAG, G.comm, &flag, &st);
    if (!flag) return 0;
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    char *b = dc_malloc((size_t)n + 1);
    MPI_Recv(b, n, MPI_BYTE, st.MPI_SOURCE, RELAY_TAG, G.comm, MPI_STATUS_IGNORE);
    b[n] = 0;
    if (n < HDR) {
        free(b);
        return recv_msg(from, buf, len);
    }
    *from = st.MPI_SOURCE;
    *buf = b;
    *len = n;
    return 1;
}

static uint32_t seq_of(const char *buf)
{
    uint32_t s;
    memcpy(&s, buf + 1, 4);
    return s;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- rank 0: each evaluator rank bridged to a pipe pair ---- */

enum { L_IDLE, L_UP, L_STOPPING, L_DEAD };

struct link {
    int state;
    uint32_t seq;        /* its current evaluator process */
    int down_rd, up_wr;  /* the relay's pipe ends (the campaign holds the others) */
    bytes out;           /* from the rank, not yet written to up_wr */
    int start, stop;     /* asked by the campaign, not yet sent */
    double grace;
    int sigs[8], nsigs;
    char how[200];
    double heard; /* dc_now of its last message */
    char host[128];
};

int dc_mpi_built(void)
{
    return 1;
}

int dc_mpi_size(void)
{
    return G.started && G.rank == 0 ? G.size : 0;
}

const char *dc_mpi_rank_host(int rank)
{
    if (!G.links || rank < 1 || rank >= G.size) return "?";
    return G.links[rank].host[0] ? G.links[rank].host : "host unknown";
}

int dc_mpi_connect(int rank, int *to, int *from, char *err, size_t errcap)
{
    if (rank < 1 || rank >= dc_mpi_size()) {
        dc_fmt(err, errcap, "there is no MPI rank %d", rank);
        return -1;
    }
    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) != 0) {
        dc_fmt(err, errcap, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(up, O_CLOEXEC) != 0) {
        dc_fmt(err, errcap, "cannot create a pipe: %s", strerror(errno));
        close(down[0]);
        close(down[1]);
        return -1;
    }
    set_nonblock(down[0]);
    set_nonblock(up[1]);
    pthread_mutex_lock(&G.mu);
    struct link *L = &G.links[rank];
    /* the relay closes the previous process's ends first */
    while (L->state != L_IDLE || L->down_rd >= 0 || L->up_wr >= 0)
        pthread_cond_wait(&G.cv, &G.mu);
    L->down_rd = down[0];
    L->up_wr = up[1];
    L->seq++;
    L->state = L_UP;
    L->start = 1;
    L->out.len = 0;
    L->how[0] = 0;
    pthread_mutex_unlock(&G.mu);
    *to = down[1];
    *from = up[0];
    return 0;
}

void dc_mpi_signal(int rank, int sig)
{
    if (rank < 1 || rank >= dc_mpi_size()) return;
    pthread_mutex_lock(&G.mu);
    struct link *L = &G.links[rank];
    if (L->state == L_UP && L->nsigs < 8) L->sigs[L->nsigs++] = sig;
    pthread_mutex_unlock(&G.mu);
}

void dc_mpi_disconnect(int rank, double grace_s, char *how, size_t howcap)
{
    if (how && howcap) how[0] = 0;
    if (rank < 1 || rank >= dc_mpi_size()) return;
    pthread_mutex_lock(&G.mu);
    struct link *L = &G.links[rank];
    if (L->state == L_UP) {
        L->stop = 1;
        L->grace = grace_s;
    }
    double until = dc_now() + grace_s + 30.0;
    while (L->state == L_UP || L->state == L_STOPPING) {
        if (dc_now() > until) {
            dc_fmt(L->how, sizeof L->how, "did not say how it ended (MPI rank %d, %s)", rank,
                   dc_mpi_rank_host(rank));
            L->state = L_IDLE;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&G.cv, &G.mu, &ts);
    }
    L->state = L_IDLE; /* from L_DEAD: it had ended by itself */
    if (how) dc_fmt(how, howcap, "%s", L->how[0] ? L->how : "ended");
    pthread_mutex_unlock(&G.mu);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Under G.mu: what the campaign asked since the last round. */
static void relay0_commands(void)
{
    for (int k = 1; k < G.size; k++) {
        struct link *L = &G.links[k];
        if (L->start) {
            L->start = 0;
            send_msg(k, K_START, L->seq, NULL, 0);
        }
        for (int i = 0; i < L->nsigs; i++) {
            char s[16];
            snprintf(s, sizeof s, "%d", L->sigs[i]);
            send_text(k, K_SIGNAL, L->seq, s);
        }
        L->nsigs = 0;
        if (L->stop) {
            L->stop = 0;
            close_fd(&L->down_rd);
            close_fd(&L->up_wr);
            L->out.len = 0;
            L->state = L_STOPPING;
            char g[32];
            snprintf(g, sizeof g, "%.3f", L->grace);
            send_text(k, K_STOP, L->seq, g);
            pthread_cond_broadcast(&G.cv);
        }
        if (L->state == L_IDLE && (L->down_rd >= 0 || L->up_wr >= 0)) {
            close_fd(&L->down_rd); /* an evaluator that had ended, now stopped */
            close_fd(&L->up_wr);
            L->out.len = 0;
            pthread_cond_broadcast(&G.cv);
        }
    }
}

/* Under G.mu: one message from rank k. */
static void relay0_message(int k, const char *buf, int len)
{
    if (k < 1 || k >= G.size) return;
    struct link *L = &G.links[k];
    L->heard = dc_now();
    int cur = seq_of(buf) == L->seq;
    switch (buf[0]) {
    case K_HELLO:
        dc_fmt(L->host, sizeof L->host, "host %s", buf + HDR);
        break;
    case K_DATA:
        if (cur && L->state == L_UP && L->up_wr >= 0) bytes_add(&L->out, buf + HDR, (size_t)(len - HDR));
        break;
    case K_ENDED:
        if (!cur) break;
        dc_fmt(L->how, sizeof L->how, "%s", buf + HDR);
        if (L->state == L_STOPPING) {
            L->state = L_IDLE;
            pthread_cond_broadcast(&G.cv);
        } else if (L->state == L_UP) {
            L->state = L_DEAD; /* up_wr is closed once its last bytes are written */
            close_fd(&L->down_rd);
        }
        break;
    default:
        break;
    }
}

/* A rank that fell silent: the job ends (rank 0 exits without MPI_Finalize, so the
 * launcher ends every rank). */
static void lost_rank(int k)
{
    fprintf(stderr,
            "discover run: MPI rank %d (%s) has sent nothing for %.0f s: it is lost, so the MPI "
            "job ends. %s\n",
            k, dc_mpi_rank_host(k), DC_MPI_SILENCE_S, G.term_msg);
    _exit(2);
}

static void relay0(void)
{
    double beat = 0;
    struct pollfd pf[2 * 256 + 1];
    int who[2 * 256 + 1];
    pthread_mutex_lock(&G.mu);
    for (;;) {
        relay0_commands();
        if (G.quit) break;
        double now = dc_now();
        if (now - beat >= HEART_S) {
            beat = now;
            for (int k = 1; k < G.size; k++)
                send_msg(k, K_HEART, 0, NULL, 0);
        }
        for (int k = 1; k < G.size; k++)
            if (now - G.links[k].heard > DC_MPI_SILENCE_S) lost_rank(k);
        int n = 0;
        for (int k = 1; k < G.size && n < 2 * 256; k++) {
            struct link *L = &G.links[k];
            if (L->state == L_UP && L->down_rd >= 0) {
                pf[n] = (struct pollfd){.fd = L->down_rd, .events = POLLIN};
                who[n++] = k;
            }
            if ((L->state == L_UP || L->state == L_DEAD) && L->up_wr >= 0 && L->out.len > 0) {
                pf[n] = (struct pollfd){.fd = L->up_wr, .events = POLLOUT};
                who[n++] = k;
            }
        }
        pthread_mutex_unlock(&G.mu);
        int pr = poll(pf, (nfds_t)n, POLL_MS);
        pthread_mutex_lock(&G.mu);
        for (int i = 0; i < n && pr > 0; i++) {
            struct link *L = &G.links[who[i]];
            if (!pf[i].revents) continue;
            if (pf[i].fd == L->down_rd) {
                char b[CHUNK];
                ssize_t r = read(L->down_rd, b, sizeof b);
                if (r > 0)
                    send_msg(who[i], K_DATA, L->seq, b, (size_t)r);
                else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                    close_fd(&L->down_rd); /* the campaign closed it: a stop follows */
            } else if (pf[i].fd == L->up_wr) {
                ssize_t w = write(L->up_wr, L->out.p, L->out.len);
                if (w > 0)
                    bytes_drop(&L->out, (size_t)w);
                else if (w < 0 && errno != EAGAIN && errno != EINTR)
                    L->out.len = 0; /* the campaign closed its end */
            }
        }
        for (int k = 1; k < G.size; k++) {
            struct link *L = &G.links[k];
            if (L->state == L_DEAD && L->out.len == 0 && L->up_wr >= 0) {
                close_fd(&L->up_wr); /* the campaign reads its end of file: evaluator lost */
                pthread_cond_broadcast(&G.cv);
            }
        }
        test_sends();
        int from, len;
        char *buf;
        for (int m = 0; m < 64 && recv_msg(&from, &buf, &len); m++) {
            relay0_message(from, buf, len);
            free(buf);
        }
    }
    /* the end: every rank stops its evaluator, finishes its sends and says bye */
    for (int k = 1; k < G.size; k++) {
        close_fd(&G.links[k].down_rd);
        close_fd(&G.links[k].up_wr);
        send_msg(k, K_QUIT, 0, NULL, 0);
    }
    pthread_mutex_unlock(&G.mu);
    int byes = 0;
    double until = dc_now() + 60.0;
    while ((byes < G.size - 1 || G.nsends > 0) && dc_now() < until) {
        test_sends();
        int from, len;
        char *buf;
        int got = 0;
        while (recv_msg(&from, &buf, &len)) {
            byes += buf[0] == K_BYE;
            free(buf);
            got = 1;
        }
        if (!got) poll(NULL, 0, POLL_MS);
    }
}

/* ---- rank k > 0: an evaluator process for rank 0 ---- */

static const char *self_exe(void)
{
    static char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return "discover";
    path[n] = 0;
    return path;
}

/* CUDA_VISIBLE_DEVICES for this rank's evaluator: the node-local rank modulo the GPUs it
 * sees (the entries of CUDA_VISIBLE_DEVICES, else the driver's list); 0 when there are
 * none (the task then runs where its device option says, the CPU without a GPU). */
static int gpu_env(char *out, size_t cap)
{
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    if (v) {
        char list[512];
        snprintf(list, sizeof list, "%s", v);
        char *items[64];
        int n = 0;
        char *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t && n < 64; t = strtok_r(NULL, ",", &save))
            items[n++] = t;
        if (n == 0) return 0;
        snprintf(out, cap, "CUDA_VISIBLE_DEVICES=%s", items[G.local_rank % n]);
        return 1;
    }
    DIR *d = opendir("/proc/driver/nvidia/gpus");
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    if (n == 0) return 0;
    snprintf(out, cap, "CUDA_VISIBLE_DEVICES=%d", G.local_rank % n);
    return 1;
}

/* Task threads for this rank's evaluator (evaluator_setup uses it when the campaign chose
 * them): SLURM_CPUS_PER_TASK, else this node's cores divided among its evaluators. */
static void threads_env(char *out, size_t cap)
{
    const char *s = getenv("SLURM_CPUS_PER_TASK");
    long t = s ? atol(s) : 0;
    if (t <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        t = cores / (G.node_evaluators > 0 ? G.node_evaluators : 1);
    }
    snprintf(out, cap, "DISCOVER_MPI_THREADS=%ld", t > 0 ? t : 1);
}

/* An evaluator that could not start answers its configuration with this error. */
static void send_start_error(uint32_t seq, const char *why)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", why);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    uint32_t len = text ? (uint32_t)strlen(text) : 0;
    bytes b = {0};
    bytes_add(&b, &len, sizeof len);
    bytes_add(&b, text, len);
    send_msg(0, K_DATA, seq, b.p, b.len);
    send_text(0, K_ENDED, seq, "could not start");
    bytes_free(&b);
    cJSON_free(text);
}

static int relayk(void)
{
    static char gpu[160], threads[64];
    char *env[3];
    int nenv = 0;
    if (gpu_env(gpu, sizeof gpu)) env[nenv++] = gpu;
    threads_env(threads, sizeof threads);
    env[nenv++] = threads;
    env[nenv] = NULL;
    char host[128] = "?";
    gethostname(host, sizeof host - 1);
    send_text(0, K_HELLO, 0, host);

    dc_evaluator ev;
    memset(&ev, 0, sizeof ev);
    ev.to = ev.from = -1;
    uint32_t seq = 0;
    bytes in = {0}; /* for the evaluator's input */
    double heard = dc_now(), beat = 0;
    int quit = 0;
    while (!quit) {
        double now = dc_now();
        if (now - beat >= HEART_S) {
            beat = now;
            send_msg(0, K_HEART, 0, NULL, 0);
        }
        if (now - heard > DC_MPI_SILENCE_S) {
            fprintf(stderr,
                    "discover (MPI rank %d on %s): nothing from rank 0, the campaign, for %.0f "
                    "s: it is gone, so this rank ends too\n",
                    G.rank, host, DC_MPI_SILENCE_S);
            dc_evaluator_stop(&ev, 0.0, NULL, 0);
            _exit(1);
        }
        struct pollfd pf[2];
        int n = 0;
        if (ev.up && ev.from >= 0) pf[n++] = (struct pollfd){.fd = ev.from, .events = POLLIN};
        if (ev.up && ev.to >= 0 && in.len > 0)
            pf[n++] = (struct pollfd){.fd = ev.to, .events = POLLOUT};
        int pr = poll(pf, (nfds_t)n, POLL_MS);
        for (int i = 0; i < n && pr > 0; i++) {
            if (!pf[i].revents) continue;
            if (pf[i].fd == ev.from) {
                char b[CHUNK];
                ssize_t r = read(ev.from, b, sizeof b);
                if (r > 0) {
                    send_msg(0, K_DATA, seq, b, (size_t)r);
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    /* it ended by itself (killed, or it gave up): say how */
                    char how[160];
                    dc_evaluator_stop(&ev, 5.0, how, sizeof how);
                    send_text(0, K_ENDED, seq, how);
                    in.len = 0;
                    break;
                }
            } else if (pf[i].fd == ev.to) {
                ssize_t w = write(ev.to, in.p, in.len);
                if (w > 0)
                    bytes_drop(&in, (size_t)w);
                else if (w < 0 && errno != EAGAIN && errno != EINTR)
                    in.len = 0; /* it is ending: its end of file follows */
            }
        }
        test_sends();
        int from, len;
        char *buf;
        for (int m = 0; m < 64 && !quit && recv_msg(&from, &buf, &len); m++) {
            heard = dc_now();
            uint32_t s = seq_of(buf);
            switch (buf[0]) {
            case K_START: {
                if (ev.up) dc_evaluator_stop(&ev, 0.0, NULL, 0); /* not expected */
                seq = s;
                in.len = 0;
                char e[512];
                if (dc_evaluator_spawn(&ev, self_exe(), env, e, sizeof e) != 0) {
                    send_start_error(seq, e);
                } else {
                    set_nonblock(ev.to);
                    set_nonblock(ev.from);
                }
                break;
            }
            case K_DATA:
                if (ev.up && s == seq) bytes_add(&in, buf + HDR, (size_t)(len - HDR));
                break;
            case K_SIGNAL:
                if (ev.up && s == seq && ev.pid > 0) kill(ev.pid, atoi(buf + HDR));
                break;
            case K_STOP:
                if (ev.up && s == seq) {
                    char how[160];
                    dc_evaluator_stop(&ev, atof(buf + HDR), how, sizeof how);
                    send_text(0, K_ENDED, seq, how);
                    in.len = 0;
                }
                break;
            case K_QUIT:
                quit = 1;
                break;
            default:
                break;
            }
            free(buf);
        }
    }
    dc_evaluator_stop(&ev, 5.0, NULL, 0);
    bytes_free(&in);
    /* rank 0 drains until every rank said bye: finish the sends, then say it */
    double until = dc_now() + 60.0;
    while (G.nsends > 0 && dc_now() < until) {
        test_sends();
        int from, len;
        char *buf;
        while (recv_msg(&from, &buf, &len))
            free(buf);
        poll(NULL, 0, POLL_MS);
    }
    send_msg(0, K_BYE, 0, NULL, 0);
    while (G.nsends > 0 && dc_now() < until) {
        test_sends();
        poll(NULL, 0, POLL_MS);
    }
    return 0;
}

/* ---- the relay thread ---- */

static void *relay_main(void *arg)
{
    (void)arg;
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    pthread_mutex_lock(&G.mu);
    if (rc != MPI_SUCCESS || provided < MPI_THREAD_FUNNELED) {
        G.init_rc = -1;
        dc_fmt(G.init_err, sizeof G.init_err,
               rc != MPI_SUCCESS ? "MPI_Init_thread failed"
                                 : "the MPI library does not support MPI_THREAD_FUNNELED");
        G.ready = 1;
        pthread_cond_broadcast(&G.cv);
        pthread_mutex_unlock(&G.mu);
        return NULL;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &G.comm);
    MPI_Comm_rank(G.comm, &G.rank);
    MPI_Comm_size(G.comm, &G.size);
    /* the ranks on this node: the node-local rank picks the GPU; those that evaluate (all
     * but rank 0) share the cores */
    MPI_Comm node;
    MPI_Comm_split_type(G.comm, MPI_COMM_TYPE_SHARED, G.rank, MPI_INFO_NULL, &node);
    int node_size = 1, is0 = G.rank == 0, has0 = 0;
    MPI_Comm_rank(node, &G.local_rank);
    MPI_Comm_size(node, &node_size);
    MPI_Allreduce(&is0, &has0, 1, MPI_INT, MPI_MAX, node);
    MPI_Comm_free(&node);
    G.node_evaluators = node_size - has0;
    if (G.rank == 0) {
        G.links = dc_calloc((size_t)G.size, sizeof *G.links);
        double now = dc_now();
        for (int k = 0; k < G.size; k++) {
            G.links[k].down_rd = G.links[k].up_wr = -1;
            G.links[k].heard = now;
        }
    }
    G.ready = 1;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
    if (G.rank == 0)
        relay0();
    else
        G.rc = relayk();
    MPI_Comm_free(&G.comm);
    MPI_Finalize();
    return NULL;
}

int dc_mpi_start(int *rank, int *size, char *err, size_t errcap)
{
    if (pthread_create(&G.thread, NULL, relay_main, NULL) != 0) {
        dc_fmt(err, errcap, "cannot start the MPI relay thread: %s", strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&G.mu);
    while (!G.ready)
        pthread_cond_wait(&G.cv, &G.mu);
    int rc = G.init_rc;
    pthread_mutex_unlock(&G.mu);
    if (rc != 0) {
        pthread_join(G.thread, NULL);
        dc_fmt(err, errcap, "%s", G.init_err);
        return -1;
    }
    G.started = 1;
    *rank = G.rank;
    *size = G.size;
    return 0;
}

int dc_mpi_serve(void)
{
    if (!G.started) return 1;
    pthread_join(G.thread, NULL);
    G.started = 0;
    return G.rc;
}

/* what the SIGTERM handler writes, whole (write is async-signal-safe; stdio is not) */
static char term_line[sizeof G.term_msg + 256];

static void on_term(int sig)
{
    (void)sig;
    ssize_t w = write(2, term_line, strlen(term_line));
    (void)w;
    _exit(2);
}

void dc_mpi_on_term(const char *msg)
{
    dc_fmt(G.term_msg, sizeof G.term_msg, "%s", msg); /* lost_rank's hint too */
    dc_fmt(term_line, sizeof term_line,
           "\ndiscover run: the MPI job is ending (SIGTERM from the launcher: a rank was lost, "
           "or the job was cancelled). %s\n",
           msg);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

void dc_mpi_finish(void)
{
    if (!G.started) return;
    pthread_mutex_lock(&G.mu);
    G.quit = 1;
    pthread_mutex_unlock(&G.mu);
    pthread_join(G.thread, NULL);
    G.started = 0;
}
