/* fake_llm_server.c — see fake_llm_server.h. A deliberately small HTTP/1.1 server: one thread,
 * one connection at a time, one request per connection. Every loop is bounded by a count, a
 * byte limit or a deadline so a broken test cannot hang CI. */
#define _GNU_SOURCE /* strcasestr, strncasecmp */
#include "fake_llm_server.h"

#include "common/util.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 64
#define POLL_MS 50

typedef struct {
    int status;
    char *headers, *body;
    double delay_s;
    long truncate_at;
    int close_without_reply;
} script;

typedef struct {
    char *method, *path, *headers, *body;
    int nh;
    char *hname[MAX_HEADERS], *hval[MAX_HEADERS];
    double t;
} req_rec;

/* The replies for requests that name one model: its contents in turn, round and round. */
typedef struct {
    char *model;
    char **contents;
    int n, next;
    double delay_s; /* fake_llm_set_model_delay */
} model_script;

#define FAKE_LLM_MAX_CONNECTIONS 32 /* served at once, each on its own thread */

struct fake_llm {
    int listen_fd, port;
    char base[64];
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    double deadline;
    pthread_mutex_t mu; /* guards everything below */
    script *queue;
    int qhead, qlen, qcap;
    script fallback;
    int has_fallback;
    model_script models[FAKE_LLM_MAX_MODELS];
    int nmodels;
    req_rec *reqs;
    int nreq, reqcap;
    int active, peak; /* connections being served now, and the most at once */
};

/* ---------------------------------------------------------------- script queue */

static char *dup_or_empty(const char *s) { return dc_strdup(s ? s : ""); }

static script script_copy(const fake_llm_reply *r)
{
    script s = {
        .status = r->status ? r->status : 200,
        .headers = dup_or_empty(r->headers),
        .body = dup_or_empty(r->body),
        .delay_s = r->delay_s,
        .truncate_at = r->truncate_at,
        .close_without_reply = r->close_without_reply,
    };
    return s;
}

static void script_free(script *s)
{
    free(s->headers);
    free(s->body);
    s->headers = s->body = NULL;
}

void fake_llm_push(fake_llm *s, const fake_llm_reply *r)
{
    pthread_mutex_lock(&s->mu);
    if (s->qhead + s->qlen == s->qcap) {
        s->qcap = s->qcap ? s->qcap * 2 : 16;
        s->queue = dc_realloc(s->queue, (size_t)s->qcap * sizeof *s->queue);
    }
    s->queue[s->qhead + s->qlen++] = script_copy(r);
    pthread_mutex_unlock(&s->mu);
}

/* A 200 chat completion body carrying content (caller frees with cJSON_free). */
static char *completion_body(const char *content, int prompt_tokens, int completion_tokens)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", "chatcmpl-fake");
    cJSON_AddStringToObject(root, "object", "chat.completion");
    cJSON_AddStringToObject(root, "model", "fake-model");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *c0 = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c0);
    cJSON_AddNumberToObject(c0, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(c0, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", content);
    cJSON_AddStringToObject(c0, "finish_reason", "stop");
    cJSON *usage = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", prompt_tokens);
    cJSON_AddNumberToObject(usage, "completion_tokens", completion_tokens);
    cJSON_AddNumberToObject(usage, "total_tokens", prompt_tokens + completion_tokens);
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!body) {
        fprintf(stderr, "fake_llm_server: cannot build a completion body (out of memory)\n");
        exit(1);
    }
    return body;
}

void fake_llm_push_content(fake_llm *s, const char *content, int prompt_tokens, int completion_tokens)
{
    char *body = completion_body(content, prompt_tokens, completion_tokens);
    fake_llm_reply r = {.status = 200, .body = body, .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &r);
    cJSON_free(body);
}

void fake_llm_set_model_replies(fake_llm *s, const char *model, const char *const *contents, int n)
{
    pthread_mutex_lock(&s->mu);
    if (s->nmodels == FAKE_LLM_MAX_MODELS || n <= 0) {
        fprintf(stderr, "fake_llm_server: at most %d models, each with a reply\n", FAKE_LLM_MAX_MODELS);
        exit(1);
    }
    model_script *m = &s->models[s->nmodels++];
    m->model = dc_strdup(model);
    m->contents = dc_calloc((size_t)n, sizeof *m->contents);
    for (int i = 0; i < n; i++) m->contents[i] = dc_strdup(contents[i]);
    m->n = n;
    m->next = 0;
    pthread_mutex_unlock(&s->mu);
}

void fake_llm_set_model_delay(fake_llm *s, const char *model, double delay_s)
{
    pthread_mutex_lock(&s->mu);
    int found = 0;
    for (int i = 0; i < s->nmodels; i++)
        if (!strcmp(s->models[i].model, model)) {
            s->models[i].delay_s = delay_s;
            found = 1;
        }
    pthread_mutex_unlock(&s->mu);
    if (!found) {
        fprintf(stderr, "fake_llm_server: set the replies of model %s before its delay\n", model);
        exit(1);
    }
}

char *fake_llm_candidate_reply(const char *thought, const char *name, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "thought", thought);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "code", code);
    char *j = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *r = dc_strdup(j);
    cJSON_free(j);
    return r;
}

void fake_llm_request_model(fake_llm *s, int i, char *buf, size_t cap)
{
    const char *body = fake_llm_request_body(s, i);
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    snprintf(buf, cap, "%s", cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(j);
}

int fake_llm_peak_connections(fake_llm *s)
{
    pthread_mutex_lock(&s->mu);
    int p = s->peak;
    pthread_mutex_unlock(&s->mu);
    return p;
}

/* The reply scripted for the model a request body names, if any (caller frees). */
static int model_reply(fake_llm *s, const char *body, size_t len, script *out)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "model") : NULL;
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; cJSON_IsString(m) && i < s->nmodels && !found; i++) {
        model_script *ms = &s->models[i];
        if (strcmp(ms->model, m->valuestring) != 0) continue;
        char *b = completion_body(ms->contents[ms->next], 100, 50);
        ms->next = (ms->next + 1) % ms->n;
        fake_llm_reply r = {.status = 200, .body = b, .truncate_at = FAKE_LLM_WHOLE,
                            .delay_s = ms->delay_s};
        *out = script_copy(&r);
        cJSON_free(b);
        found = 1;
    }
    pthread_mutex_unlock(&s->mu);
    cJSON_Delete(j);
    return found;
}

void fake_llm_push_error(fake_llm *s, int status, const char *message, const char *headers)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", status == 429 ? "rate_limit_error" : "invalid_request_error");
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!body) {
        fprintf(stderr, "fake_llm_server: cannot build an error body (out of memory)\n");
        exit(1);
    }
    fake_llm_reply r = {.status = status, .headers = headers, .body = body, .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &r);
    cJSON_free(body);
}

void fake_llm_set_fallback(fake_llm *s, const fake_llm_reply *r)
{
    pthread_mutex_lock(&s->mu);
    if (s->has_fallback) script_free(&s->fallback);
    s->has_fallback = r != NULL;
    if (r) s->fallback = script_copy(r);
    pthread_mutex_unlock(&s->mu);
}

int fake_llm_pending(fake_llm *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->qlen;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Next reply to give (caller frees). */
static script next_script(fake_llm *s)
{
    script out;
    pthread_mutex_lock(&s->mu);
    if (s->qlen > 0) {
        out = s->queue[s->qhead++];
        s->qlen--;
    } else if (s->has_fallback) {
        fake_llm_reply r = {
            .status = s->fallback.status,
            .headers = s->fallback.headers,
            .body = s->fallback.body,
            .delay_s = s->fallback.delay_s,
            .truncate_at = s->fallback.truncate_at,
            .close_without_reply = s->fallback.close_without_reply,
        };
        out = script_copy(&r);
    } else {
        fake_llm_reply r = {
            .status = 410,
            .body = "{\"error\":{\"message\":\"fake_llm_server: script exhausted\",\"type\":\"test_error\"}}",
            .truncate_at = FAKE_LLM_WHOLE,
        };
        out = script_copy(&r);
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

/* ---------------------------------------------------------------- requests */

static void record_request(fake_llm *s, const char *head, size_t head_len, const char *body, size_t body_len)
{
    req_rec r = {0};
    r.t = dc_now();
    /* Request line: METHOD SP PATH SP VERSION CRLF */
    const char *eol = memmem(head, head_len, "\r\n", 2);
    size_t line_len = eol ? (size_t)(eol - head) : head_len;
    const char *sp1 = memchr(head, ' ', line_len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line_len - (size_t)(sp1 + 1 - head)) : NULL;
    if (sp1 && sp2) {
        r.method = dc_malloc((size_t)(sp1 - head) + 1);
        memcpy(r.method, head, (size_t)(sp1 - head));
        r.method[sp1 - head] = '\0';
        r.path = dc_malloc((size_t)(sp2 - sp1));
        memcpy(r.path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
        r.path[sp2 - sp1 - 1] = '\0';
    } else {
        r.method = dc_strdup("");
        r.path = dc_strdup("");
    }
    const char *hs = eol ? eol + 2 : head + head_len;
    size_t hl = (size_t)(head + head_len - hs);
    r.headers = dc_malloc(hl + 1);
    memcpy(r.headers, hs, hl);
    r.headers[hl] = '\0';
    /* Split "Name: value" lines. */
    char *p = r.headers;
    while (*p && r.nh < MAX_HEADERS) {
        char *end = strstr(p, "\r\n");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *colon = memchr(p, ':', n);
        if (colon) {
            size_t nl = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < p + n && (*v == ' ' || *v == '\t')) v++;
            size_t vl = (size_t)(p + n - v);
            r.hname[r.nh] = dc_malloc(nl + 1);
            memcpy(r.hname[r.nh], p, nl);
            r.hname[r.nh][nl] = '\0';
            r.hval[r.nh] = dc_malloc(vl + 1);
            memcpy(r.hval[r.nh], v, vl);
            r.hval[r.nh][vl] = '\0';
            r.nh++;
        }
        if (!end) break;
        p = end + 2;
    }
    r.body = dc_malloc(body_len + 1);
    memcpy(r.body, body, body_len);
    r.body[body_len] = '\0';

    pthread_mutex_lock(&s->mu);
    if (s->nreq == s->reqcap) {
        s->reqcap = s->reqcap ? s->reqcap * 2 : 16;
        s->reqs = dc_realloc(s->reqs, (size_t)s->reqcap * sizeof *s->reqs);
    }
    s->reqs[s->nreq++] = r;
    pthread_mutex_unlock(&s->mu);
}

/* Waits until fd is readable (1), the deadline passes or the server stops (0), or poll fails (-1). */
static int wait_readable(fake_llm *s, int fd, double deadline)
{
    while (!atomic_load(&s->stop) && dc_now() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, POLL_MS);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return -1;
    }
    return 0;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* the client went away (e.g. it timed out): nothing more to do */
        p += w;
        n -= (size_t)w;
    }
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

/* Content-Length of a header block, or 0. */
static size_t content_length(const char *head, size_t len)
{
    const char *p = head;
    const char *end = head + len;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0) return strtoul(p + 15, NULL, 10);
        p = eol + 2;
    }
    return 0;
}

/* Case-insensitive search for needle within the first len bytes of head. */
static int head_has(const char *head, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (strncasecmp(head + i, needle, nl) == 0) return 1;
    return 0;
}

static void serve_connection(fake_llm *s, int fd)
{
    /* A client that stops reading must not block the server thread for ever. */
    struct timeval tv = {.tv_sec = (long)FAKE_LLM_READ_TIMEOUT_S, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    double deadline = dc_now() + FAKE_LLM_READ_TIMEOUT_S;
    dc_sb in = {0};
    size_t head_len = 0, need = 0;
    int have_head = 0, sent_continue = 0, expect_continue = 0;
    char buf[16384];
    while (in.len < FAKE_LLM_MAX_REQUEST) {
        if (have_head && in.len >= head_len + 4 + need) break;
        if (expect_continue && !sent_continue && in.len == head_len + 4 && need > 0) {
            send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            sent_continue = 1;
        }
        if (wait_readable(s, fd, deadline) != 1) break;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        dc_sb_appendn(&in, buf, (size_t)n);
        if (!have_head) {
            char *e = memmem(in.data, in.len, "\r\n\r\n", 4);
            if (e) {
                have_head = 1;
                head_len = (size_t)(e - in.data);
                need = content_length(in.data, head_len);
                expect_continue = head_has(in.data, head_len, "Expect: 100-continue");
                if (need > FAKE_LLM_MAX_REQUEST) need = FAKE_LLM_MAX_REQUEST;
            }
        }
    }
    if (!have_head) { /* nothing usable (a port probe, or a client that gave up) */
        dc_sb_free(&in);
        return;
    }
    size_t body_len = in.len - head_len - 4;
    if (body_len > need) body_len = need;
    record_request(s, in.data, head_len, in.data + head_len + 4, body_len);
    script sc;
    if (!model_reply(s, in.data + head_len + 4, body_len, &sc)) sc = next_script(s);
    dc_sb_free(&in);

    if (!sc.close_without_reply) {
        double until = dc_now() + sc.delay_s;
        while (!atomic_load(&s->stop) && dc_now() < until) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        size_t blen = strlen(sc.body);
        dc_sb out = {0};
        dc_sb_printf(&out,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n",
                     sc.status, reason_phrase(sc.status), blen, sc.headers);
        size_t send_body = blen;
        if (sc.truncate_at >= 0 && (size_t)sc.truncate_at < blen) send_body = (size_t)sc.truncate_at;
        dc_sb_appendn(&out, sc.body, send_body);
        send_all(fd, out.data, out.len);
        dc_sb_free(&out);
    }
    script_free(&sc);
}

typedef struct {
    fake_llm *s;
    int fd;
    pthread_t th;
    atomic_int done;
} connection;

static void *connection_main(void *arg)
{
    connection *c = arg;
    serve_connection(c->s, c->fd);
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    pthread_mutex_lock(&c->s->mu);
    c->s->active--;
    pthread_mutex_unlock(&c->s->mu);
    atomic_store(&c->done, 1);
    return NULL;
}

/* Joins the connection threads that are done (all of them when wait_all), compacting conns. */
static int reap_connections(connection **conns, int n, int wait_all)
{
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (wait_all || atomic_load(&conns[i]->done)) {
            pthread_join(conns[i]->th, NULL);
            free(conns[i]);
        } else {
            conns[kept++] = conns[i];
        }
    }
    return kept;
}

/* Accepts connections and serves each on a thread of its own (so a slow reply does not
 * hold up the others, as with a real server), at most FAKE_LLM_MAX_CONNECTIONS at once. */
static void *server_main(void *arg)
{
    fake_llm *s = arg;
    int served = 0, n = 0;
    connection *conns[FAKE_LLM_MAX_CONNECTIONS];
    while (!atomic_load(&s->stop) && dc_now() < s->deadline && served < FAKE_LLM_MAX_REQUESTS) {
        n = reap_connections(conns, n, 0);
        if (n == FAKE_LLM_MAX_CONNECTIONS) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd pfd = {.fd = s->listen_fd, .events = POLLIN};
        int r = poll(&pfd, 1, POLL_MS);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "fake_llm_server: poll failed: %s\n", strerror(errno));
            break;
        }
        if (r <= 0) continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        connection *c = dc_calloc(1, sizeof *c);
        c->s = s;
        c->fd = fd;
        atomic_init(&c->done, 0);
        pthread_mutex_lock(&s->mu);
        if (++s->active > s->peak) s->peak = s->active;
        pthread_mutex_unlock(&s->mu);
        if (pthread_create(&c->th, NULL, connection_main, c) != 0) {
            /* no thread: serve it here */
            serve_connection(s, fd);
            shutdown(fd, SHUT_WR);
            close(fd);
            pthread_mutex_lock(&s->mu);
            s->active--;
            pthread_mutex_unlock(&s->mu);
            free(c);
        } else {
            conns[n++] = c;
        }
        served++;
    }
    reap_connections(conns, n, 1);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

fake_llm *fake_llm_start_opts(double lifetime_s)
{
    fake_llm *s = dc_calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->stop, 0);
    s->deadline = dc_now() + (lifetime_s > 0 ? lifetime_s : FAKE_LLM_DEFAULT_LIFETIME_S);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0) {
        fprintf(stderr, "fake_llm_server: socket: %s\n", strerror(errno));
        goto fail;
    }
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "fake_llm_server: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        goto fail;
    }
    s->port = ntohs(a.sin_port);
    dc_fmt(s->base, sizeof s->base, "http://127.0.0.1:%d/v1", s->port);
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
        fprintf(stderr, "fake_llm_server: cannot start its thread\n");
        goto fail;
    }
    s->thread_started = 1;
    return s;
fail:
    if (s->listen_fd >= 0) close(s->listen_fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
}

fake_llm *fake_llm_start(void) { return fake_llm_start_opts(FAKE_LLM_DEFAULT_LIFETIME_S); }

void fake_llm_stop(fake_llm *s)
{
    if (!s) return;
    atomic_store(&s->stop, 1);
    if (s->thread_started) pthread_join(s->thread, NULL);
    close(s->listen_fd);
    for (int i = 0; i < s->qlen; i++) script_free(&s->queue[s->qhead + i]);
    free(s->queue);
    if (s->has_fallback) script_free(&s->fallback);
    for (int i = 0; i < s->nmodels; i++) {
        for (int k = 0; k < s->models[i].n; k++) free(s->models[i].contents[k]);
        free(s->models[i].contents);
        free(s->models[i].model);
    }
    for (int i = 0; i < s->nreq; i++) {
        req_rec *r = &s->reqs[i];
        free(r->method);
        free(r->path);
        free(r->headers);
        free(r->body);
        for (int h = 0; h < r->nh; h++) {
            free(r->hname[h]);
            free(r->hval[h]);
        }
    }
    free(s->reqs);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int fake_llm_port(const fake_llm *s) { return s->port; }
const char *fake_llm_base_url(const fake_llm *s) { return s->base; }

int fake_llm_request_count(fake_llm *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nreq;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* The record array moves when it grows (realloc), so copy the entry under the lock; the strings
   it points to stay put until fake_llm_stop. */
static req_rec *rec_at(fake_llm *s, int i, req_rec *copy)
{
    pthread_mutex_lock(&s->mu);
    int ok = i >= 0 && i < s->nreq;
    if (ok) *copy = s->reqs[i];
    pthread_mutex_unlock(&s->mu);
    return ok ? copy : NULL;
}

const char *fake_llm_request_method(fake_llm *s, int i)
{
    req_rec c, *r = rec_at(s, i, &c);
    return r ? r->method : NULL;
}
const char *fake_llm_request_path(fake_llm *s, int i)
{
    req_rec c, *r = rec_at(s, i, &c);
    return r ? r->path : NULL;
}
const char *fake_llm_request_headers(fake_llm *s, int i)
{
    req_rec c, *r = rec_at(s, i, &c);
    return r ? r->headers : NULL;
}
const char *fake_llm_request_body(fake_llm *s, int i)
{
    req_rec c, *r = rec_at(s, i, &c);
    return r ? r->body : NULL;
}
const char *fake_llm_request_header(fake_llm *s, int i, const char *name)
{
    req_rec c, *r = rec_at(s, i, &c);
    if (!r) return NULL;
    for (int h = 0; h < r->nh; h++)
        if (strcasecmp(r->hname[h], name) == 0) return r->hval[h];
    return NULL;
}
double fake_llm_request_time(fake_llm *s, int i)
{
    req_rec c, *r = rec_at(s, i, &c);
    return r ? r->t : -1;
}
