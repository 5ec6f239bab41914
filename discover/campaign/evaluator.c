/* evaluator.c — framed messages, the result of one evaluation as a message, and starting and
 * stopping evaluator processes (see evaluator.h). */
#define _GNU_SOURCE
#include "evaluator.h"

#include "common/util.h"
#include "mpi_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG_LIMIT (64u << 20)

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 1 read all, 0 end of file before the first byte, -1 error or a cut frame */
static int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

int dc_msg_write(int fd, const cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);
    if (!text) return -1;
    uint32_t len = (uint32_t)strlen(text);
    int rc = write_all(fd, &len, sizeof len) == 0 && write_all(fd, text, len) == 0 ? 0 : -1;
    cJSON_free(text);
    return rc;
}

cJSON *dc_msg_read(int fd, char *err, size_t errcap)
{
    uint32_t len;
    int r = read_all(fd, &len, sizeof len);
    if (r <= 0) {
        dc_fmt(err, errcap, r == 0 ? "end of file" : "read failed: %s", strerror(errno));
        return NULL;
    }
    if (len > MSG_LIMIT) {
        dc_fmt(err, errcap, "a message of %u bytes (the limit is %u)", len, MSG_LIMIT);
        return NULL;
    }
    char *text = dc_malloc((size_t)len + 1);
    if (read_all(fd, text, len) != 1) {
        dc_fmt(err, errcap, "a message cut short");
        free(text);
        return NULL;
    }
    text[len] = 0;
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!o) dc_fmt(err, errcap, "a message that is not JSON");
    return o;
}

/* cJSON writes NaN and infinities as null; they come back as NaN */
static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *dc_result_to_json(const arc_candidate *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)c->id);
    cJSON_AddStringToObject(o, "status", c->status ? c->status : "");
    cJSON_AddStringToObject(o, "message", c->message ? c->message : "");
    cJSON_AddStringToObject(o, "fingerprint", c->fingerprint ? c->fingerprint : "");
    cJSON_AddStringToObject(o, "metrics_json", c->metrics_json ? c->metrics_json : "{}");
    cJSON_AddNumberToObject(o, "duplicate_of", (double)c->duplicate_of);
    cJSON_AddBoolToObject(o, "has_fitness", c->has_fitness);
    cJSON_AddNumberToObject(o, "fitness", c->fitness);
    cJSON_AddNumberToObject(o, "test_metric", c->test_metric);
    cJSON_AddNumberToObject(o, "seconds", c->seconds);
    cJSON *curves = cJSON_AddArrayToObject(o, "curves");
    for (int i = 0; i < c->curves.len; i++) {
        const dc_curve *cv = &c->curves.items[i];
        cJSON *one = cJSON_CreateObject();
        cJSON_AddStringToObject(one, "metric", cv->metric);
        cJSON *steps = cJSON_AddArrayToObject(one, "step");
        cJSON *vals = cJSON_AddArrayToObject(one, "value");
        for (int j = 0; j < cv->len; j++) {
            cJSON_AddItemToArray(steps, cJSON_CreateNumber(cv->step[j]));
            cJSON_AddItemToArray(vals, cJSON_CreateNumber(cv->value[j]));
        }
        cJSON_AddItemToArray(curves, one);
    }
    return o;
}

static void set_field(char **field, const char *v)
{
    free(*field);
    *field = dc_strdup(v ? v : "");
}

int dc_result_from_json(const cJSON *msg, arc_candidate *c, char *err, size_t errcap)
{
    const char *status = str(msg, "status");
    if (!status || !*status) {
        dc_fmt(err, errcap, "an evaluator's answer without a status");
        return -1;
    }
    set_field(&c->status, status);
    set_field(&c->message, str(msg, "message"));
    set_field(&c->fingerprint, str(msg, "fingerprint"));
    const char *metrics = str(msg, "metrics_json");
    set_field(&c->metrics_json, metrics ? metrics : "{}");
    double dup = num(msg, "duplicate_of");
    c->duplicate_of = isfinite(dup) ? (int64_t)dup : 0;
    c->has_fitness = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "has_fitness"));
    c->fitness = num(msg, "fitness");
    c->test_metric = num(msg, "test_metric");
    c->seconds = num(msg, "seconds");
    dc_curves_free(&c->curves);
    const cJSON *one;
    cJSON_ArrayForEach(one, cJSON_GetObjectItemCaseSensitive(msg, "curves"))
    {
        const char *metric = str(one, "metric");
        const cJSON *steps = cJSON_GetObjectItemCaseSensitive(one, "step");
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(one, "value");
        if (!metric || !cJSON_IsArray(steps) || !cJSON_IsArray(vals)) continue;
        int n = cJSON_GetArraySize(steps);
        for (int j = 0; j < n && j < cJSON_GetArraySize(vals); j++) {
            const cJSON *s = cJSON_GetArrayItem(steps, j), *v = cJSON_GetArrayItem(vals, j);
            dc_curves_add(&c->curves, metric, cJSON_IsNumber(s) ? s->valueint : 0,
                          cJSON_IsNumber(v) ? v->valuedouble : NAN);
        }
    }
    return 0;
}

cJSON *dc_progress_to_json(const dc_progress_msg *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *p = cJSON_AddObjectToObject(o, "progress");
    cJSON_AddNumberToObject(p, "id", (double)m->id);
    cJSON_AddStringToObject(p, "phase", m->phase);
    cJSON_AddNumberToObject(p, "step", m->step);
    cJSON_AddNumberToObject(p, "steps", m->steps);
    return o;
}

int dc_progress_from_json(const cJSON *msg, dc_progress_msg *m)
{
    memset(m, 0, sizeof *m);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(msg, "progress");
    if (!cJSON_IsObject(p)) return 0;
    double id = num(p, "id"), step = num(p, "step"), steps = num(p, "steps");
    const char *phase = str(p, "phase");
    m->id = isfinite(id) ? (int64_t)id : 0;
    m->step = isfinite(step) && fabs(step) < 1e9 ? (int)step : 0;
    m->steps = isfinite(steps) && fabs(steps) < 1e9 ? (int)steps : 0;
    snprintf(m->phase, sizeof m->phase, "%s", phase ? phase : "");
    return 1;
}

void dc_progress_relay_step(void *ctx, const char *phase, int step, int steps)
{
    dc_progress_relay *r = ctx;
    if (!r || r->id <= 0 || r->fd < 0) return;
    double now = dc_now();
    if (r->last > 0 && now - r->last < DC_PROGRESS_EVERY_S) return;
    /* POLLOUT on a pipe: room for at least PIPE_BUF bytes, and a report is far smaller, so
     * the write below cannot block training while the campaign is not reading */
    struct pollfd pf = {.fd = r->fd, .events = POLLOUT};
    if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLOUT)) return;
    dc_progress_msg m = {.id = r->id, .step = step, .steps = steps};
    snprintf(m.phase, sizeof m.phase, "%s", phase ? phase : "");
    cJSON *o = dc_progress_to_json(&m);
    if (dc_msg_write(r->fd, o) == 0) r->last = now;
    cJSON_Delete(o);
}

cJSON *dc_orig_to_json(const arc_candidate *o, int with_code)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)o->id);
    cJSON_AddStringToObject(j, "name", o->name ? o->name : "");
    if (with_code) cJSON_AddStringToObject(j, "code", o->code ? o->code : "");
    cJSON_AddBoolToObject(j, "has_fitness", o->has_fitness);
    cJSON_AddNumberToObject(j, "fitness", o->fitness);
    cJSON_AddNumberToObject(j, "test_metric", o->test_metric);
    cJSON_AddStringToObject(j, "metrics_json", o->metrics_json ? o->metrics_json : "{}");
    return j;
}

int dc_orig_from_json(const cJSON *j, arc_candidate *o)
{
    memset(o, 0, sizeof *o);
    double id = num(j, "id");
    if (!cJSON_IsObject(j) || !isfinite(id) || !str(j, "name")) return -1;
    o->id = (int64_t)id;
    o->name = dc_strdup(str(j, "name"));
    o->code = dc_strdup(str(j, "code") ? str(j, "code") : "");
    o->has_fitness = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "has_fitness"));
    o->fitness = num(j, "fitness");
    o->test_metric = num(j, "test_metric");
    o->metrics_json = dc_strdup(str(j, "metrics_json") ? str(j, "metrics_json") : "{}");
    return 0;
}

cJSON *dc_request_to_json(const arc_candidate *c, double budget, const arc_candidate *same_code)
{
    /* the row's result fields too: a candidate run again keeps what the evaluation does not
     * overwrite, as when it was read from the archive */
    cJSON *o = dc_result_to_json(c);
    cJSON_AddStringToObject(o, "name", c->name ? c->name : "");
    cJSON_AddStringToObject(o, "code", c->code ? c->code : "");
    cJSON_AddStringToObject(o, "code_hash", c->code_hash ? c->code_hash : "");
    cJSON_AddNumberToObject(o, "generation", c->generation);
    cJSON_AddNumberToObject(o, "campaign_id", (double)c->campaign_id);
    cJSON_AddNumberToObject(o, "budget", budget);
    cJSON_AddItemToObject(o, "same_code",
                          same_code ? dc_orig_to_json(same_code, 0) : cJSON_CreateNull());
    return o;
}

int dc_request_from_json(const cJSON *msg, arc_candidate *c, double *budget, arc_candidate *same,
                         int *has_same, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    *has_same = 0;
    double id = num(msg, "id"), gen = num(msg, "generation");
    if (!isfinite(id) || !isfinite(gen) || !str(msg, "code") || !str(msg, "name") ||
        !str(msg, "code_hash")) {
        dc_fmt(err, errcap, "a request without id, generation, name, code or code_hash");
        return -1;
    }
    if (dc_result_from_json(msg, c, err, errcap) != 0) return -1;
    c->id = (int64_t)id;
    c->generation = (int)gen;
    double camp = num(msg, "campaign_id");
    c->campaign_id = isfinite(camp) ? (int64_t)camp : 0;
    c->name = dc_strdup(str(msg, "name"));
    c->code = dc_strdup(str(msg, "code"));
    c->code_hash = dc_strdup(str(msg, "code_hash"));
    double b = num(msg, "budget");
    *budget = isfinite(b) && b > 0 ? b : 0;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(msg, "same_code");
    if (cJSON_IsObject(sc)) {
        if (dc_orig_from_json(sc, same) != 0) {
            dc_fmt(err, errcap, "a request whose same_code is malformed");
            return -1;
        }
        *has_same = 1;
    }
    return 0;
}

/* Clears close-on-exec on fd so the evaluator keeps it across exec. */
static int keep_open(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

int dc_evaluator_spawn(dc_evaluator *ev, const char *exe, char *const env_extra[], char *err,
                       size_t errcap)
{
    int rank = ev->rank;
    memset(ev, 0, sizeof *ev);
    ev->rank = rank;
    ev->to = ev->from = -1;
    int down[2], up[2];
    /* close-on-exec everywhere: a sibling evaluator holding another one's pipe would hide
     * that one's death (no end of file) */
    if (pipe2(down, O_CLOEXEC) != 0) {
        dc_fmt(err, errcap, "cannot create an evaluator pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(up, O_CLOEXEC) != 0) {
        dc_fmt(err, errcap, "cannot create an evaluator pipe: %s", strerror(errno));
        close(down[0]);
        close(down[1]);
        return -1;
    }
    /* an evaluator that is gone must not kill the campaign with SIGPIPE (nor a campaign
     * that is gone its evaluators: they inherit this, and stop at the failed write) */
    signal(SIGPIPE, SIG_IGN);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        dc_fmt(err, errcap, "cannot start an evaluator process: %s", strerror(errno));
        close(down[0]);
        close(down[1]);
        close(up[0]);
        close(up[1]);
        return -1;
    }
    if (pid == 0) {
        /* no evaluator outlives the campaign, even a SIGKILLed one */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
        if (keep_open(down[0]) != 0 || keep_open(up[1]) != 0) _exit(127);
        /* a process group of its own: Ctrl-C reaches it once, passed on by the campaign
         * (a second SIGINT would kill it mid-candidate) */
        if (setpgid(0, 0) != 0) _exit(127);
        for (int i = 0; env_extra && env_extra[i]; i++)
            if (putenv(env_extra[i]) != 0) _exit(127);
        char in[16], out[16];
        snprintf(in, sizeof in, "%d", down[0]);
        snprintf(out, sizeof out, "%d", up[1]);
        execl(exe, exe, "__evaluator", in, out, (char *)NULL);
        _exit(127);
    }
    close(down[0]);
    close(up[1]);
    ev->pid = pid;
    ev->to = down[1];
    ev->from = up[0];
    ev->up = 1;
    return 0;
}

int dc_evaluator_start(dc_evaluator *ev, const char *exe, const cJSON *init, char *err,
                       size_t errcap)
{
    char e[256];
    if (ev->rank > 0) {
        /* on another MPI rank: its relay starts the process there; these pipes reach it */
        int rank = ev->rank;
        memset(ev, 0, sizeof *ev);
        ev->rank = rank;
        ev->to = ev->from = -1;
        if (dc_mpi_connect(rank, &ev->to, &ev->from, e, sizeof e) != 0) {
            dc_fmt(err, errcap, "the evaluator of MPI rank %d could not start: %s", rank, e);
            return -1;
        }
        ev->up = 1;
    } else if (dc_evaluator_spawn(ev, exe, NULL, err, errcap) != 0) {
        return -1;
    }
    cJSON *ready = NULL;
    if (dc_msg_write(ev->to, init) == 0)
        ready = dc_msg_read(ev->from, e, sizeof e);
    else
        snprintf(e, sizeof e, "it did not take its configuration");
    const char *why = ready ? str(ready, "error") : NULL;
    if (!ready || why) {
        char how[128];
        if (ev->rank > 0)
            dc_fmt(err, errcap, "the evaluator of MPI rank %d (%s) could not start: %s", ev->rank,
                   dc_mpi_rank_host(ev->rank), why ? why : e);
        else
            dc_fmt(err, errcap, "an evaluator process (%s __evaluator) could not start: %s", exe,
                   why ? why : e);
        dc_evaluator_stop(ev, 2.0, how, sizeof how);
        cJSON_Delete(ready);
        return -1;
    }
    cJSON_Delete(ready);
    return 0;
}

void dc_evaluator_signal(dc_evaluator *ev, int sig)
{
    if (!ev->up) return;
    if (ev->rank > 0)
        dc_mpi_signal(ev->rank, sig);
    else if (ev->pid > 0)
        kill(ev->pid, sig);
}

static void describe(int st, char *why, size_t whycap)
{
    if (!why) return;
    if (WIFSIGNALED(st))
        dc_fmt(why, whycap, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WIFEXITED(st))
        dc_fmt(why, whycap, "exited with status %d", WEXITSTATUS(st));
    else
        dc_fmt(why, whycap, "ended");
}

void dc_evaluator_stop(dc_evaluator *ev, double grace_s, char *why, size_t whycap)
{
    if (why && whycap) why[0] = 0;
    if (ev->to >= 0) close(ev->to);
    if (ev->from >= 0) close(ev->from);
    ev->to = ev->from = -1;
    if (ev->rank > 0 && ev->up) dc_mpi_disconnect(ev->rank, grace_s, why, whycap);
    ev->up = 0;
    ev->cand = 0;
    if (ev->pid <= 0) return;
    int st = 0;
    double until = dc_now() + grace_s;
    for (;;) {
        pid_t r = waitpid(ev->pid, &st, WNOHANG);
        if (r == ev->pid || (r < 0 && errno != EINTR)) break;
        if (dc_now() >= until) {
            kill(ev->pid, SIGKILL);
            while (waitpid(ev->pid, &st, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        poll(NULL, 0, 20);
    }
    describe(st, why, whycap);
    ev->pid = 0;
    ev->cand = 0;
}
