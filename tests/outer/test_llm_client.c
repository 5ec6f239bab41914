/* test_llm_client.c — llm_chat against the scripted fake server: success and accounting, every
 * retry rule, every failure text, json_mode fallback, cancellation, and where the key may appear.
 * Back-off bases are milliseconds so the whole program runs in a few seconds. */
#define _GNU_SOURCE /* setenv, unsetenv */
#include "discover/propose/llm/llm_client.h"
#include "fake_llm_server.h"
#include "tests/test.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEY "sk-TESTKEY-9f8e7d6c5b4a3210"

static const llm_message MSGS[] = {
    {"system", "You are a machine learning researcher testing RLHF loss functions."},
    {"user", "Here are some results: \"DPO\" fitness 7.8875\nPlease generate the next one. \xc3\xa9"},
};

static fake_llm *start(void)
{
    fake_llm *s = fake_llm_start_opts(60);
    if (!s) {
        fprintf(stderr, "cannot start the fake LLM server\n");
        exit(1);
    }
    return s;
}

static void base_cfg(llm_config *c, const fake_llm *s)
{
    llm_config_default(c);
    c->api_base = s ? fake_llm_base_url(s) : "http://127.0.0.1:9/v1";
    c->model = "fake-model";
    c->api_key = KEY;
    c->temperature = 0.7;
    c->max_tokens = 100;
    c->connect_timeout_s = 2;
    c->total_timeout_s = 5;
    c->max_retries = 3;
    c->backoff_base_s = 0.01;
    c->backoff_max_s = 2;
}

static int contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }
static int starts_with(const char *s, const char *prefix) { return s && strncmp(s, prefix, strlen(prefix)) == 0; }

/* The key may travel only in the Authorization header. */
static void check_key_hygiene(const llm_reply *r, fake_llm *s, int line)
{
    CHECK_MSG(!contains(r->request_json, KEY), "line %d: key in request_json", line);
    CHECK_MSG(!contains(r->response_raw, KEY), "line %d: key in response_raw", line);
    CHECK_MSG(!contains(r->error, KEY), "line %d: key in error", line);
    if (!s) return;
    for (int i = 0; i < fake_llm_request_count(s); i++) {
        CHECK_MSG(!contains(fake_llm_request_body(s, i), KEY), "line %d: key in body of request %d", line, i);
        CHECK_MSG(!contains(fake_llm_request_path(s, i), KEY), "line %d: key in path of request %d", line, i);
        const char *auth = fake_llm_request_header(s, i, "Authorization");
        CHECK_MSG(auth && strcmp(auth, "Bearer " KEY) == 0, "line %d: Authorization of request %d = %s", line, i,
                  auth ? auth : "(none)");
        /* Exactly one occurrence in the whole header block: the Authorization line. */
        const char *h = fake_llm_request_headers(s, i);
        const char *first = strstr(h, KEY);
        CHECK_MSG(first && !strstr(first + 1, KEY), "line %d: key count in headers of request %d", line, i);
    }
}

static void test_success(void)
{
    fake_llm *s = start();
    fake_llm_push_content(s, "{\"thought\": \"t\", \"name\": \"n\", \"code\": \"c;\"}", 120, 30);
    llm_config c;
    base_cfg(&c, s);
    c.price_in_per_mtok = 2.0;
    c.price_out_per_mtok = 6.0;
    llm_reply r;
    int rc = llm_chat(&c, MSGS, 2, &r);
    CHECK(rc == 0);
    CHECK(r.ok == 1);
    CHECK_STR(r.error, "");
    CHECK_STR(r.content, "{\"thought\": \"t\", \"name\": \"n\", \"code\": \"c;\"}");
    CHECK(r.http_status == 200);
    CHECK(r.tokens_in == 120 && r.tokens_out == 30);
    CHECK_NEAR(r.cost, 120 * 2.0 / 1e6 + 30 * 6.0 / 1e6, 1e-12);
    CHECK(r.attempts == 1 && r.nwaits == 0);
    CHECK_STR(r.finish_reason, "stop");
    CHECK(r.latency_s > 0 && r.latency_s < 5);
    CHECK(contains(r.response_raw, "\"prompt_tokens\":120"));

    /* What went over the wire. */
    CHECK(fake_llm_request_count(s) == 1);
    CHECK_STR(fake_llm_request_method(s, 0), "POST");
    CHECK_STR(fake_llm_request_path(s, 0), "/v1/chat/completions");
    CHECK_STR(fake_llm_request_header(s, 0, "Content-Type"), "application/json");
    CHECK_STR(fake_llm_request_body(s, 0), r.request_json);
    cJSON *req = cJSON_Parse(fake_llm_request_body(s, 0));
    CHECK(req != NULL);
    if (req) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(req, "model")), "fake-model");
        CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(req, "temperature")), 0.7, 1e-12);
        CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(req, "max_tokens")), 100, 0);
        /* JSON mode is on by default. */
        cJSON *rf = cJSON_GetObjectItem(req, "response_format");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(rf, "type")), "json_object");
        CHECK(r.json_mode_used == 1);
        cJSON *msgs = cJSON_GetObjectItem(req, "messages");
        CHECK(cJSON_GetArraySize(msgs) == 2);
        for (int i = 0; i < 2 && i < cJSON_GetArraySize(msgs); i++) {
            cJSON *m = cJSON_GetArrayItem(msgs, i);
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m, "role")), MSGS[i].role);
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m, "content")), MSGS[i].content);
        }
        cJSON_Delete(req);
    }
    check_key_hygiene(&r, s, __LINE__);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_no_key_and_trailing_slash(void)
{
    fake_llm *s = start();
    fake_llm_push_content(s, "ok", 1, 1);
    llm_config c;
    base_cfg(&c, s);
    char base[128];
    dc_fmt(base, sizeof base, "%s/", fake_llm_base_url(s));
    c.api_base = base;
    c.api_key = NULL;
    c.max_tokens = 0; /* omitted */
    llm_reply r;
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK_STR(fake_llm_request_path(s, 0), "/v1/chat/completions");
    CHECK(fake_llm_request_header(s, 0, "Authorization") == NULL);
    CHECK(!contains(fake_llm_request_body(s, 0), "max_tokens"));
    CHECK_NEAR(r.cost, 0, 0);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_retry_after_seconds(void)
{
    fake_llm *s = start();
    fake_llm_push_error(s, 429, "Rate limit reached for requests", "Retry-After: 1\r\n");
    fake_llm_push_content(s, "after the wait", 5, 6);
    llm_config c;
    base_cfg(&c, s);
    llm_reply r;
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK_STR(r.content, "after the wait");
    CHECK(r.attempts == 2);
    CHECK(r.nwaits == 1);
    CHECK_NEAR(r.waits[0], 1.0, 1e-9);
    double gap = fake_llm_request_time(s, 1) - fake_llm_request_time(s, 0);
    CHECK_MSG(gap >= 0.95 && gap < 2.0, "gap between attempts %.3f s", gap);
    CHECK(r.latency_s >= 0.95);
    CHECK(r.tokens_in == 5 && r.tokens_out == 6);
    check_key_hygiene(&r, s, __LINE__);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_retry_after_variants(void)
{
    /* HTTP-date two seconds ahead: the wait is 1-2 s (whole seconds), not the ~1 ms jitter. */
    fake_llm *s = start();
    char hdr[96], date[64];
    time_t when = time(NULL) + 2;
    struct tm tmv;
    gmtime_r(&when, &tmv);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tmv);
    dc_fmt(hdr, sizeof hdr, "Retry-After: %s\r\n", date);
    fake_llm_push_error(s, 503, "overloaded", hdr);
    fake_llm_push_content(s, "ok", 1, 1);
    llm_config c;
    base_cfg(&c, s);
    c.backoff_base_s = 0.001;
    llm_reply r;
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK(r.attempts == 2 && r.nwaits == 1);
    CHECK_MSG(r.waits[0] >= 0.99 && r.waits[0] <= 2.0, "HTTP-date wait %.3f", r.waits[0]);
    llm_reply_free(&r);
    fake_llm_stop(s);

    /* retry-after-ms (OpenAI) is more precise and wins over Retry-After. */
    s = start();
    fake_llm_push_error(s, 429, "slow down", "retry-after-ms: 250\r\nRetry-After: 1\r\n");
    fake_llm_push_content(s, "ok", 1, 1);
    c.api_base = fake_llm_base_url(s);
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK(r.nwaits == 1);
    CHECK_NEAR(r.waits[0], 0.25, 1e-9);
    llm_reply_free(&r);
    fake_llm_stop(s);

    /* A Retry-After beyond backoff_max_s is capped. */
    s = start();
    fake_llm_push_error(s, 429, "slow down", "Retry-After: 100\r\n");
    fake_llm_push_content(s, "ok", 1, 1);
    c.api_base = fake_llm_base_url(s);
    c.backoff_max_s = 0.2;
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK(r.nwaits == 1);
    CHECK_NEAR(r.waits[0], 0.2, 1e-9);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

typedef struct {
    int calls;
    char reasons[4][512];
    volatile sig_atomic_t *cancel_on_first;
} retry_log;

static void on_retry(void *ctx, int attempt, double wait_s, const char *reason)
{
    retry_log *l = ctx;
    (void)attempt, (void)wait_s;
    if (l->calls < 4) dc_fmt(l->reasons[l->calls], sizeof l->reasons[0], "%s", reason);
    l->calls++;
    if (l->cancel_on_first) *l->cancel_on_first = 1;
}

static void test_server_errors_then_success(void)
{
    fake_llm *s = start();
    fake_llm_push_error(s, 500, "internal error", NULL);
    fake_llm_push_error(s, 502, "bad gateway", NULL);
    fake_llm_push_content(s, "third time lucky", 1, 1);
    llm_config c;
    base_cfg(&c, s);
    retry_log log = {0};
    c.on_retry = on_retry;
    c.on_retry_ctx = &log;
    llm_reply r;
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK_STR(r.content, "third time lucky");
    CHECK(r.attempts == 3 && r.nwaits == 2 && log.calls == 2);
    /* Full jitter: wait i lies in [0, base * 2^i]. */
    CHECK(r.waits[0] >= 0 && r.waits[0] <= 0.01);
    CHECK(r.waits[1] >= 0 && r.waits[1] <= 0.02);
    CHECK(contains(log.reasons[0], "HTTP 500 from ") && contains(log.reasons[0], ": internal error"));
    CHECK(contains(log.reasons[1], "HTTP 502"));
    CHECK(fake_llm_request_count(s) == 3);
    check_key_hygiene(&r, s, __LINE__);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_retries_exhausted(void)
{
    fake_llm *s = start();
    for (int i = 0; i < 3; i++) fake_llm_push_error(s, 503, "overloaded", NULL);
    fake_llm_push_content(s, "never reached", 1, 1);
    llm_config c;
    base_cfg(&c, s);
    c.max_retries = 2;
    llm_reply r;
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(r.ok == 0 && r.content == NULL);
    CHECK(r.attempts == 3 && r.nwaits == 2);
    CHECK(r.http_status == 503);
    char want[256];
    dc_fmt(want, sizeof want, "HTTP 503 from %s/chat/completions: overloaded (gave up after 3 attempts)",
           fake_llm_base_url(s));
    CHECK_STR(r.error, want);
    CHECK(fake_llm_pending(s) == 1);
    CHECK(contains(r.response_raw, "overloaded"));
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_401_not_retried(void)
{
    fake_llm *s = start();
    /* Real servers echo (part of) the key: it must be scrubbed from every record. */
    fake_llm_push_error(s, 401, "Incorrect API key provided: " KEY, NULL);
    fake_llm_push_content(s, "never reached", 1, 1);
    llm_config c;
    base_cfg(&c, s);
    llm_reply r;
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(r.attempts == 1 && r.nwaits == 0);
    CHECK(r.http_status == 401);
    char want[256];
    dc_fmt(want, sizeof want, "HTTP 401 from %s/chat/completions: Incorrect API key provided: [redacted]",
           fake_llm_base_url(s));
    CHECK_STR(r.error, want);
    CHECK(contains(r.response_raw, "Incorrect API key provided: [redacted]"));
    CHECK(fake_llm_pending(s) == 1);
    check_key_hygiene(&r, s, __LINE__);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_timeout(void)
{
    fake_llm *s = start();
    fake_llm_reply slow = {.status = 200, .body = "{}", .delay_s = 3.0, .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &slow);
    llm_config c;
    base_cfg(&c, s);
    c.total_timeout_s = 0.5;
    c.max_retries = 0;
    llm_reply r;
    double t0 = dc_now();
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    double took = dc_now() - t0;
    CHECK_MSG(took >= 0.45 && took < 1.5, "took %.3f s", took);
    CHECK_MSG(starts_with(r.error, "timed out after 0.5 s waiting for http://127.0.0.1:"), "error: %s", r.error);
    CHECK(r.attempts == 1 && r.http_status == 0);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

/* A port nothing listens on: bind an ephemeral one, then close it. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "cannot find a free port\n");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void test_connection_refused(void)
{
    llm_config c;
    base_cfg(&c, NULL);
    char base[64];
    int port = closed_port();
    dc_fmt(base, sizeof base, "http://127.0.0.1:%d/v1", port);
    c.api_base = base;
    c.max_retries = 1;
    llm_reply r;
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    char want[160];
    dc_fmt(want, sizeof want, "connection refused at http://127.0.0.1:%d/v1/chat/completions (gave up after 2 attempts)",
           port);
    CHECK_STR(r.error, want);
    CHECK(r.attempts == 2 && r.http_status == 0 && r.ok == 0);
    CHECK_STR(r.response_raw, "");
    check_key_hygiene(&r, NULL, __LINE__);
    llm_reply_free(&r);
}

static void test_truncated_and_broken_bodies(void)
{
    const char *full = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hello\"}}]}";
    llm_config c;
    llm_reply r;

    /* Content-Length larger than what arrives, then close: an error, retried. */
    fake_llm *s = start();
    fake_llm_reply cut = {.status = 200, .body = full, .truncate_at = 20};
    fake_llm_push(s, &cut);
    base_cfg(&c, s);
    c.max_retries = 0;
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK_MSG(starts_with(r.error, "truncated response body from "), "error: %s", r.error);
    CHECK(contains(r.error, "after 20 bytes"));
    llm_reply_free(&r);
    fake_llm_stop(s);

    s = start();
    fake_llm_push(s, &cut);
    fake_llm_reply whole = {.status = 200, .body = full, .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &whole);
    base_cfg(&c, s);
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK_STR(r.content, "hello");
    CHECK(r.attempts == 2);
    CHECK(r.tokens_in == 0 && r.tokens_out == 0); /* no usage in this body */
    llm_reply_free(&r);
    fake_llm_stop(s);

    /* Complete HTTP body that is cut-off JSON. */
    s = start();
    fake_llm_reply half = {.status = 200, .body = "{\"choices\": [", .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &half);
    base_cfg(&c, s);
    c.max_retries = 0;
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK_MSG(starts_with(r.error, "truncated response body (not valid JSON"), "error: %s", r.error);
    CHECK_STR(r.response_raw, "{\"choices\": [");
    llm_reply_free(&r);
    fake_llm_stop(s);

    /* An HTML page (wrong api_base): not retried, says what to check. */
    s = start();
    fake_llm_reply html = {.status = 200, .body = "<html><body>Welcome</body></html>", .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &html);
    fake_llm_push(s, &whole);
    base_cfg(&c, s);
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(contains(r.error, "is not JSON (is api_base right?"));
    CHECK(r.attempts == 1);
    llm_reply_free(&r);
    fake_llm_stop(s);

    /* Valid JSON without content. */
    s = start();
    fake_llm_reply empty = {.status = 200,
                            .body = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null},"
                                    "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":100}}",
                            .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &empty);
    base_cfg(&c, s);
    c.price_out_per_mtok = 1e6; /* one unit per token: the billed tokens still count */
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK_STR(r.error, "response has no choices[0].message.content (finish_reason \"length\")");
    CHECK(r.tokens_in == 10 && r.tokens_out == 100);
    CHECK_NEAR(r.cost, 100, 1e-9);
    CHECK(r.content == NULL && r.ok == 0);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_closed_without_reply(void)
{
    fake_llm *s = start();
    fake_llm_reply drop = {.close_without_reply = 1, .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &drop);
    fake_llm_push_content(s, "second try", 1, 1);
    llm_config c;
    base_cfg(&c, s);
    retry_log log = {0};
    c.on_retry = on_retry;
    c.on_retry_ctx = &log;
    llm_reply r;
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK(r.attempts == 2 && log.calls == 1);
    CHECK_MSG(contains(log.reasons[0], "closed the connection without replying"), "reason: %s", log.reasons[0]);
    CHECK(fake_llm_request_count(s) == 2);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_json_mode(void)
{
    llm_forget_json_mode_rejections();
    fake_llm *s = start();
    llm_config c;
    base_cfg(&c, s);
    c.json_mode = 1;
    llm_reply r;

    /* Accepted: the request carries response_format. */
    fake_llm_push_content(s, "{}", 1, 1);
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK(r.json_mode_used == 1);
    CHECK(contains(fake_llm_request_body(s, 0), "\"response_format\":{\"type\":\"json_object\"}"));
    llm_reply_free(&r);

    /* Rejected with a 400 naming response_format: resent at once without it. */
    fake_llm_push_error(s, 400, "Unrecognized request argument supplied: response_format", NULL);
    fake_llm_push_content(s, "{\"ok\": 1}", 1, 1);
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK(r.attempts == 2 && r.nwaits == 0);
    CHECK(r.json_mode_used == 0);
    CHECK(contains(fake_llm_request_body(s, 1), "response_format"));
    CHECK(!contains(fake_llm_request_body(s, 2), "response_format"));
    CHECK_STR(r.request_json, fake_llm_request_body(s, 2));
    llm_reply_free(&r);

    /* Remembered for this server: the next call does not try again. */
    fake_llm_push_content(s, "{}", 1, 1);
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK(r.attempts == 1);
    CHECK(!contains(fake_llm_request_body(s, 3), "response_format"));
    llm_reply_free(&r);

    /* Forgotten on request. */
    llm_forget_json_mode_rejections();
    fake_llm_push_content(s, "{}", 1, 1);
    CHECK(llm_chat(&c, MSGS, 2, &r) == 0);
    CHECK(contains(fake_llm_request_body(s, 4), "response_format"));
    llm_reply_free(&r);

    /* Another 400 is not a json_mode problem: no retry. */
    fake_llm_push_error(s, 400, "max_tokens is too large", NULL);
    fake_llm_push_content(s, "never reached", 1, 1);
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(r.attempts == 1 && r.http_status == 400);
    CHECK(contains(r.error, ": max_tokens is too large"));
    check_key_hygiene(&r, s, __LINE__);
    llm_reply_free(&r);
    fake_llm_stop(s);
    llm_forget_json_mode_rejections();
}

static void test_cancel(void)
{
    fake_llm *s = start();
    fake_llm_push_error(s, 429, "slow down", "Retry-After: 30\r\n");
    llm_config c;
    base_cfg(&c, s);
    c.backoff_max_s = 60;
    volatile sig_atomic_t stop = 0;
    retry_log log = {.cancel_on_first = &stop};
    c.cancel = &stop;
    c.on_retry = on_retry;
    c.on_retry_ctx = &log;
    llm_reply r;
    double t0 = dc_now();
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(dc_now() - t0 < 1.0);
    CHECK(r.nwaits == 1);
    CHECK_NEAR(r.waits[0], 30, 1e-9);
    CHECK(starts_with(r.error, "interrupted while waiting to retry "));
    llm_reply_free(&r);

    /* Already cancelled: nothing is sent. */
    int before = fake_llm_request_count(s);
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(starts_with(r.error, "interrupted"));
    CHECK(fake_llm_request_count(s) == before && r.attempts == 0);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

typedef struct {
    volatile sig_atomic_t *flag;
    double after_s;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    struct timespec ts = {0, (long)(c->after_s * 1e9)};
    nanosleep(&ts, NULL);
    *c->flag = 1;
    return NULL;
}

static void test_cancel_in_flight(void)
{
    fake_llm *s = start();
    fake_llm_reply slow = {.status = 200, .body = "{}", .delay_s = 5.0, .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_push(s, &slow);
    llm_config c;
    base_cfg(&c, s);
    volatile sig_atomic_t stop = 0;
    c.cancel = &stop;
    canceller k = {.flag = &stop, .after_s = 0.2};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, cancel_later, &k) == 0);
    llm_reply r;
    double t0 = dc_now();
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    double took = dc_now() - t0;
    pthread_join(th, NULL);
    CHECK_MSG(took >= 0.15 && took < 1.6, "took %.3f s", took);
    CHECK_MSG(starts_with(r.error, "interrupted while waiting for "), "error: %s", r.error);
    CHECK(r.attempts == 1 && r.nwaits == 0);
    llm_reply_free(&r);
    fake_llm_stop(s);
}

static void test_bad_config(void)
{
    llm_config c;
    llm_reply r;
    base_cfg(&c, NULL);
    c.api_base = "";
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(starts_with(r.error, "api_base is empty"));
    CHECK(r.attempts == 0 && r.request_json && r.response_raw);
    llm_reply_free(&r);

    c.api_base = "localhost:8000/v1";
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK_STR(r.error, "api_base 'localhost:8000/v1' must start with http:// or https://");
    llm_reply_free(&r);

    base_cfg(&c, NULL);
    c.api_key = "sk-abc\r\nX-Injected: 1";
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(contains(r.error, "API key contains a line break"));
    CHECK(!contains(r.error, "sk-abc"));
    llm_reply_free(&r);

    base_cfg(&c, NULL);
    c.model = "";
    CHECK(llm_chat(&c, MSGS, 2, &r) == -1);
    CHECK(starts_with(r.error, "model is empty"));
    llm_reply_free(&r);
}

static void test_defaults_and_env(void)
{
    llm_config c;
    llm_config_default(&c);
    CHECK_NEAR(c.temperature, 1.0, 0);
    CHECK(c.max_tokens == 2048 && c.max_retries == 5 && c.json_mode == 1);
    CHECK_NEAR(c.connect_timeout_s, 10, 0);
    CHECK_NEAR(c.total_timeout_s, 300, 0);
    CHECK_NEAR(c.backoff_base_s, 1.0, 0);
    CHECK_NEAR(c.backoff_max_s, 60, 0);
    CHECK(c.price_in_per_mtok == 0 && c.price_out_per_mtok == 0 && c.cancel == NULL && c.on_retry == NULL);

    unsetenv("DISCOVER_API_KEY");
    unsetenv("OPENAI_API_KEY");
    CHECK(llm_key_from_env() == NULL);
    setenv("OPENAI_API_KEY", "openai-key", 1);
    CHECK_STR(llm_key_from_env(), "openai-key");
    setenv("DISCOVER_API_KEY", "", 1);
    CHECK_STR(llm_key_from_env(), "openai-key");
    setenv("DISCOVER_API_KEY", "discover-key", 1);
    CHECK_STR(llm_key_from_env(), "discover-key");
    unsetenv("DISCOVER_API_KEY");
    unsetenv("OPENAI_API_KEY");
}

int main(void)
{
    /* A proxy from the environment must not intercept requests to 127.0.0.1. */
    const char *proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);

    test_defaults_and_env();
    test_bad_config();
    test_success();
    test_no_key_and_trailing_slash();
    test_retry_after_seconds();
    test_retry_after_variants();
    test_server_errors_then_success();
    test_retries_exhausted();
    test_401_not_retried();
    test_timeout();
    test_connection_refused();
    test_truncated_and_broken_bodies();
    test_closed_without_reply();
    test_json_mode();
    test_cancel();
    test_cancel_in_flight();
    return TEST_REPORT();
}
