/* llm_client.c — POST /chat/completions with libcurl; bounded retries; key kept out of every record.
 *
 * One curl easy handle per llm_chat call (so calls from several threads never share state); the
 * only process-wide state is curl_global_init (once) and the small table of servers that rejected
 * response_format. */
#define _GNU_SOURCE /* strcasestr, memmem, explicit_bzero */
#include "llm_client.h"

#include "common/rng.h"
#include "common/util.h"

#include <cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A reply body bigger than this is not a chat completion; stop reading rather than fill memory. */
#define LLM_MAX_BODY (32u << 20)
/* Back-off and cancel polling granularity. */
#define LLM_SLEEP_SLICE_S 0.05

void llm_config_default(llm_config *c)
{
    memset(c, 0, sizeof *c);
    c->api_base = "https://api.openai.com/v1";
    c->model = "gpt-4o-mini";
    c->api_key = NULL;
    c->temperature = 1.0;
    c->max_tokens = 2048;
    /* On: most servers honour response_format, and those that refuse it get one resend
       without it (remembered per server), so the default costs at most one extra request. */
    c->json_mode = 1;
    c->connect_timeout_s = 10;
    c->total_timeout_s = 300;
    c->max_retries = 5;
    c->backoff_base_s = 1.0;
    c->backoff_max_s = 60;
}

const char *llm_key_from_env(void)
{
    const char *k = getenv("DISCOVER_API_KEY");
    if (k && *k) return k;
    k = getenv("OPENAI_API_KEY");
    if (k && *k) return k;
    return NULL;
}

void llm_reply_free(llm_reply *r)
{
    if (!r) return;
    free(r->content);
    free(r->request_json);
    free(r->response_raw);
    r->content = r->request_json = r->response_raw = NULL;
}

/* ---------------------------------------------------------------- process-wide state */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_OK;
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Servers (api_base + model) that answered 400 to response_format: later calls skip it at once
   instead of paying a failed request every generation. */
#define JM_MAX 64
static pthread_mutex_t g_jm_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_jm_rejected[JM_MAX];
static int g_jm_n;

static uint64_t server_key(const llm_config *cfg)
{
    uint64_t h = dc_hash64(cfg->api_base, strlen(cfg->api_base), 0x6a736f6eULL);
    return dc_hash64(cfg->model, strlen(cfg->model), h);
}

static int jm_rejected(uint64_t k)
{
    int found = 0;
    pthread_mutex_lock(&g_jm_lock);
    for (int i = 0; i < g_jm_n; i++)
        if (g_jm_rejected[i] == k) found = 1;
    pthread_mutex_unlock(&g_jm_lock);
    return found;
}

static void jm_remember(uint64_t k)
{
    pthread_mutex_lock(&g_jm_lock);
    int found = 0;
    for (int i = 0; i < g_jm_n; i++)
        if (g_jm_rejected[i] == k) found = 1;
    if (!found) {
        if (g_jm_n == JM_MAX) { /* full: drop the oldest */
            memmove(g_jm_rejected, g_jm_rejected + 1, (JM_MAX - 1) * sizeof g_jm_rejected[0]);
            g_jm_n--;
        }
        g_jm_rejected[g_jm_n++] = k;
    }
    pthread_mutex_unlock(&g_jm_lock);
}

void llm_forget_json_mode_rejections(void)
{
    pthread_mutex_lock(&g_jm_lock);
    g_jm_n = 0;
    pthread_mutex_unlock(&g_jm_lock);
}

/* ---------------------------------------------------------------- key hygiene */

/* Replaces every occurrence of key in the NUL-terminated s (in place; the marker is never longer
   than what it replaces, so fixed buffers stay valid). */
static void scrub_key(char *s, const char *key)
{
    if (!s || !key || !*key) return;
    static const char marker[] = "[redacted]";
    size_t klen = strlen(key);
    size_t mlen = klen < sizeof marker - 1 ? klen : sizeof marker - 1;
    char *p = s;
    while ((p = strstr(p, key)) != NULL) {
        memcpy(p, marker, mlen);
        memmove(p + mlen, p + klen, strlen(p + klen) + 1);
        p += mlen;
    }
}

/* ---------------------------------------------------------------- one transfer */

typedef struct {
    dc_sb body;
    int overflow;             /* body passed LLM_MAX_BODY */
    double retry_after_s;     /* from Retry-After / retry-after-ms of the last response, -1 if none */
    double retry_after_ms_s;  /* retry-after-ms wins when both are present (it is more precise) */
    volatile sig_atomic_t *cancel;
} transfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    transfer *t = userp;
    size_t n = size * nmemb;
    if (t->body.len + n > LLM_MAX_BODY) {
        t->overflow = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    dc_sb_appendn(&t->body, data, n);
    return n;
}

/* Header value after "name:" (case-insensitive), trimmed into out; 1 when the line is that header. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return 0;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && isspace((unsigned char)*v)) v++;
    while (end > v && isspace((unsigned char)end[-1])) end--;
    size_t n = (size_t)(end - v);
    if (n >= cap) n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
    return 1;
}

/* Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). -1 when unparseable. */
static double parse_retry_after(const char *v)
{
    char *end = NULL;
    double s = strtod(v, &end);
    if (end != v && *end == '\0') return s >= 0 && isfinite(s) ? s : -1;
    time_t when = curl_getdate(v, NULL);
    if (when == (time_t)-1) return -1;
    double d = difftime(when, time(NULL));
    return d > 0 ? d : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    transfer *t = userp;
    size_t n = size * nmemb;
    char v[128];
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* a new response (e.g. after 100 Continue) */
        t->retry_after_s = -1;
        t->retry_after_ms_s = -1;
    } else if (header_value(data, n, "retry-after-ms", v, sizeof v)) {
        char *end = NULL;
        double ms = strtod(v, &end);
        if (end != v && *end == '\0' && ms >= 0 && isfinite(ms)) t->retry_after_ms_s = ms / 1000.0;
    } else if (header_value(data, n, "retry-after", v, sizeof v)) {
        t->retry_after_s = parse_retry_after(v);
    }
    return n;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    transfer *t = userp;
    return t->cancel && *t->cancel ? 1 : 0;
}

/* ---------------------------------------------------------------- request and response bodies */

static char *build_request(const llm_config *cfg, const llm_message *msgs, int nmsgs, int json_mode)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = NULL;
    if (!root) return NULL;
    int ok = cJSON_AddStringToObject(root, "model", cfg->model) != NULL;
    ok = ok && (arr = cJSON_AddArrayToObject(root, "messages")) != NULL;
    for (int i = 0; ok && i < nmsgs; i++) {
        cJSON *m = cJSON_CreateObject();
        ok = m != NULL && cJSON_AddItemToArray(arr, m);
        ok = ok && cJSON_AddStringToObject(m, "role", msgs[i].role) != NULL;
        ok = ok && cJSON_AddStringToObject(m, "content", msgs[i].content) != NULL;
    }
    /* A negative temperature means "the server's default": leave the field out. */
    if (ok && cfg->temperature >= 0) ok = cJSON_AddNumberToObject(root, "temperature", cfg->temperature) != NULL;
    if (ok && cfg->max_tokens > 0) ok = cJSON_AddNumberToObject(root, "max_tokens", cfg->max_tokens) != NULL;
    if (ok && json_mode) {
        cJSON *rf = cJSON_AddObjectToObject(root, "response_format");
        ok = rf != NULL && cJSON_AddStringToObject(rf, "type", "json_object") != NULL;
    }
    char *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!out) return NULL;
    char *copy = dc_strdup(out); /* callers free with free(); cJSON's allocator may differ */
    cJSON_free(out);
    return copy;
}

/* A one-line excerpt of a body for error messages: control characters become spaces. */
static void excerpt(const char *s, size_t len, char *out, size_t cap, size_t maxlen)
{
    size_t n = len < maxlen ? len : maxlen;
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)s[i] < 32 ? ' ' : s[i];
    out[n] = '\0';
    if (len > n && n >= 3) memcpy(out + n - 3, "...", 3);
}

/* The server's own explanation: {"error":{"message":..}}, {"error":".."}, {"message":..} or
   {"detail":..}, else an excerpt of the body. */
static void server_message(const char *body, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (j) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *m = NULL;
        if (cJSON_IsObject(e)) m = cJSON_GetObjectItemCaseSensitive(e, "message");
        else if (cJSON_IsString(e)) m = e;
        if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "detail");
        if (cJSON_IsString(m)) excerpt(m->valuestring, strlen(m->valuestring), out, cap, 300);
        cJSON_Delete(j);
    }
    if (!out[0]) {
        if (len == 0) dc_fmt(out, cap, "(empty body)");
        else excerpt(body, len, out, cap, 200);
    }
}

typedef enum { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL, ATTEMPT_JSON_MODE_REJECTED } attempt_outcome;

/* Interprets a 2xx body; fills reply on success. */
static attempt_outcome read_completion(const char *url, const char *body, size_t len, llm_reply *reply)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j) {
        size_t i = 0;
        while (i < len && isspace((unsigned char)body[i])) i++;
        if (i < len && (body[i] == '{' || body[i] == '[')) {
            /* Looks like JSON that was cut short (a proxy or server dying mid-reply): worth a retry. */
            dc_fmt(reply->error, sizeof reply->error, "truncated response body (not valid JSON, %zu bytes) from %s",
                   len, url);
            return ATTEMPT_RETRY;
        }
        char ex[160];
        excerpt(body, len, ex, sizeof ex, 120);
        dc_fmt(reply->error, sizeof reply->error,
               "response from %s is not JSON (is api_base right? it usually ends in /v1): %s", url, ex);
        return ATTEMPT_FAIL;
    }
    attempt_outcome out = ATTEMPT_FAIL;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "message") : NULL;
    const cJSON *content = msg ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
    const cJSON *fin = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "finish_reason") : NULL;
    if (cJSON_IsString(fin)) dc_fmt(reply->finish_reason, sizeof reply->finish_reason, "%s", fin->valuestring);

    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(usage)) {
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
        if (cJSON_IsNumber(pt) && pt->valuedouble >= 0 && pt->valuedouble < 1e9) reply->tokens_in = pt->valueint;
        if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble < 1e9) reply->tokens_out = ct->valueint;
    }

    if (cJSON_IsString(content)) {
        reply->content = dc_strdup(content->valuestring);
        reply->ok = 1;
        reply->error[0] = '\0';
        out = ATTEMPT_OK;
    } else if (err && !cJSON_IsNull(err)) {
        char m[320];
        server_message(body, len, m, sizeof m);
        dc_fmt(reply->error, sizeof reply->error, "HTTP %d from %s carries an error: %s", reply->http_status, url, m);
    } else if (reply->finish_reason[0]) {
        dc_fmt(reply->error, sizeof reply->error,
               "response has no choices[0].message.content (finish_reason \"%s\")", reply->finish_reason);
    } else {
        dc_fmt(reply->error, sizeof reply->error, "response has no choices[0].message.content");
    }
    cJSON_Delete(j);
    return out;
}

/* Curl failures that another attempt may cure (network weather), as opposed to a wrong URL or a
   cancelled call. */
static int curl_error_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_WRITE_ERROR:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_LOGIN_DENIED:
        return 0;
    default:
        return 1;
    }
}

static void describe_curl_error(CURLcode rc, long os_errno, const char *errbuf, const transfer *t, const char *url,
                                const llm_config *cfg, char *out, size_t cap)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        if (strstr(detail, "onnect"))
            dc_fmt(out, cap, "connection to %s timed out after %g s", url, cfg->connect_timeout_s);
        else
            dc_fmt(out, cap, "timed out after %g s waiting for %s (%zu bytes received)", cfg->total_timeout_s, url,
                   t->body.len);
        break;
    case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED || strstr(detail, "refused")) dc_fmt(out, cap, "connection refused at %s", url);
        else dc_fmt(out, cap, "cannot connect to %s: %s", url, detail);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        dc_fmt(out, cap, "cannot resolve the host of %s: %s", url, detail);
        break;
    case CURLE_PARTIAL_FILE:
        dc_fmt(out, cap, "truncated response body from %s: connection closed after %zu bytes (%s)", url, t->body.len,
               detail);
        break;
    case CURLE_GOT_NOTHING:
        dc_fmt(out, cap, "%s closed the connection without replying", url);
        break;
    case CURLE_WRITE_ERROR:
        if (t->overflow) {
            dc_fmt(out, cap, "response body from %s is larger than %u bytes", url, LLM_MAX_BODY);
            break;
        }
        /* fall through */
    default:
        dc_fmt(out, cap, "request to %s failed: %s", url, detail);
        break;
    }
}

/* ---------------------------------------------------------------- waiting */

/* Sleeps up to s seconds in short slices; returns 1 if cancelled. */
static int sleep_interruptible(double s, volatile sig_atomic_t *cancel)
{
    double end = dc_now() + s;
    for (;;) {
        if (cancel && *cancel) return 1;
        double left = end - dc_now();
        if (left <= 0) return 0;
        double slice = left < LLM_SLEEP_SLICE_S ? left : LLM_SLEEP_SLICE_S;
        struct timespec ts = {(time_t)slice, (long)((slice - (double)(time_t)slice) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"): uniform in
   [0, min(cap, base * 2^retry)] spreads retries of many clients hitting one rate limit. */
static double backoff_wait(const llm_config *cfg, int retry, dc_rng *rng)
{
    double base = cfg->backoff_base_s > 0 ? cfg->backoff_base_s : 0;
    double cap = cfg->backoff_max_s > 0 ? cfg->backoff_max_s : 0;
    double hi = base * ldexp(1.0, retry < 60 ? retry : 60);
    if (hi > cap) hi = cap;
    return dc_rng_uniform(rng) * hi;
}

/* ---------------------------------------------------------------- the call */

static int fail_early(llm_reply *reply, double t0, const char *msg)
{
    dc_fmt(reply->error, sizeof reply->error, "%s", msg);
    if (!reply->request_json) reply->request_json = dc_strdup("");
    if (!reply->response_raw) reply->response_raw = dc_strdup("");
    reply->latency_s = dc_now() - t0;
    return -1;
}

static int validate(const llm_config *cfg, const llm_message *msgs, int nmsgs, char *err, size_t cap)
{
    if (!cfg->api_base || !*cfg->api_base) {
        dc_fmt(err, cap, "api_base is empty: give the server's base URL, e.g. http://localhost:8000/v1");
        return -1;
    }
    if (strncmp(cfg->api_base, "http://", 7) != 0 && strncmp(cfg->api_base, "https://", 8) != 0) {
        dc_fmt(err, cap, "api_base '%s' must start with http:// or https://", cfg->api_base);
        return -1;
    }
    if (!cfg->model || !*cfg->model) {
        dc_fmt(err, cap, "model is empty: name the model the server should run (e.g. gpt-4o-mini)");
        return -1;
    }
    if (cfg->api_key && strpbrk(cfg->api_key, "\r\n")) {
        dc_fmt(err, cap, "the API key contains a line break: check DISCOVER_API_KEY / OPENAI_API_KEY");
        return -1;
    }
    if (!msgs || nmsgs <= 0) {
        dc_fmt(err, cap, "no messages to send");
        return -1;
    }
    for (int i = 0; i < nmsgs; i++) {
        if (!msgs[i].role || !msgs[i].content) {
            dc_fmt(err, cap, "message %d has no role or no content", i);
            return -1;
        }
    }
    if (!(cfg->connect_timeout_s > 0) || !(cfg->total_timeout_s > 0)) {
        dc_fmt(err, cap, "timeouts must be positive (connect %g s, total %g s)", cfg->connect_timeout_s,
               cfg->total_timeout_s);
        return -1;
    }
    return 0;
}

static struct curl_slist *make_headers(const char *key)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    /* An empty Expect stops curl from waiting for "100 Continue" on large prompts. */
    if (h && !curl_slist_append(h, "Expect:")) goto fail;
    if (h && key && *key) {
        size_t n = strlen(key) + 32;
        char *line = dc_malloc(n);
        snprintf(line, n, "Authorization: Bearer %s", key);
        struct curl_slist *r = curl_slist_append(h, line);
        explicit_bzero(line, n);
        free(line);
        if (!r) goto fail;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

static void free_headers(struct curl_slist *h)
{
    /* Wipe the Authorization line so the key does not linger in freed heap memory (core dumps). */
    for (struct curl_slist *p = h; p; p = p->next)
        if (p->data) explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

/* url = api_base + "/chat/completions", unless the user already gave the full endpoint.
 * -1 when it does not fit. */
static int endpoint_url(const char *api_base, char *url, size_t cap)
{
    size_t n = strlen(api_base);
    while (n > 0 && api_base[n - 1] == '/') n--;
    const char *suffix = "/chat/completions";
    size_t sl = strlen(suffix);
    if (n >= sl && memcmp(api_base + n - sl, suffix, sl) == 0) suffix = "";
    if (n + sl + 1 > cap) return -1;
    dc_fmt(url, cap, "%.*s%s", (int)n, api_base, suffix);
    return 0;
}

/* Every option of the request handle that does not change between attempts. 0 or -1. */
static int setup_handle(CURL *curl, const llm_config *cfg, const char *url, struct curl_slist *headers,
                        transfer *t, char *errbuf)
{
    int ok = 1;
    ok &= curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_WRITEDATA, t) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_HEADERDATA, t) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_XFERINFODATA, t) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
    /* No signals: timeouts must work from any thread (the outer loop may run proposals in one). */
    ok &= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->connect_timeout_s * 1000)) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(cfg->total_timeout_s * 1000)) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_USERAGENT, "discover/0.1 (libcurl)") == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK; /* whatever curl can decode */
    return ok ? 0 : -1;
}

/* One POST of reply->request_json and what to do next. */
static attempt_outcome attempt_once(CURL *curl, const llm_config *cfg, const char *url, transfer *t,
                                    char *errbuf, int json_mode, int json_fallback_done, llm_reply *reply)
{
    t->body.len = 0;
    if (t->body.data) t->body.data[0] = '\0';
    t->overflow = 0;
    t->retry_after_s = t->retry_after_ms_s = -1;
    errbuf[0] = '\0';
    if (curl_easy_setopt(curl, CURLOPT_POSTFIELDS, reply->request_json) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(reply->request_json)) != CURLE_OK) {
        dc_fmt(reply->error, sizeof reply->error, "libcurl rejected the request body");
        return ATTEMPT_FAIL;
    }
    reply->attempts++;
    CURLcode rc = curl_easy_perform(curl);

    long status = 0;
    if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) status = 0;
    reply->http_status = (int)status;
    free(reply->response_raw);
    reply->response_raw = t->body.data ? dc_strdup(t->body.data) : dc_strdup("");
    reply->tokens_in = reply->tokens_out = 0;
    reply->finish_reason[0] = '\0';

    attempt_outcome outcome;
    if (rc != CURLE_OK) {
        if (rc == CURLE_ABORTED_BY_CALLBACK && cfg->cancel && *cfg->cancel) {
            dc_fmt(reply->error, sizeof reply->error, "interrupted while waiting for %s", url);
            outcome = ATTEMPT_FAIL;
        } else {
            long os_errno = 0;
            if (curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK) os_errno = 0;
            describe_curl_error(rc, os_errno, errbuf, t, url, cfg, reply->error, sizeof reply->error);
            outcome = curl_error_retryable(rc) ? ATTEMPT_RETRY : ATTEMPT_FAIL;
        }
    } else if (status >= 200 && status < 300) {
        outcome = read_completion(url, t->body.data ? t->body.data : "", t->body.len, reply);
    } else {
        char m[320];
        server_message(t->body.data ? t->body.data : "", t->body.len, m, sizeof m);
        dc_fmt(reply->error, sizeof reply->error, "HTTP %ld from %s: %s", status, url, m);
        if (status == 429 || status == 408 || status >= 500) outcome = ATTEMPT_RETRY;
        else if ((status == 400 || status == 422) && json_mode && !json_fallback_done && t->body.data &&
                 strcasestr(t->body.data, "response_format"))
            outcome = ATTEMPT_JSON_MODE_REJECTED;
        else outcome = ATTEMPT_FAIL;
    }
    scrub_key(reply->error, cfg->api_key);
    scrub_key(reply->response_raw, cfg->api_key);
    return outcome;
}

/* Before retry number `retries`: the server's Retry-After, else exponential back-off with
 * full jitter, capped; recorded in reply->waits and slept (interruptibly). 0, or -1 when
 * interrupted. */
static int wait_before_retry(const llm_config *cfg, const transfer *t, int retries, dc_rng *rng,
                             const char *url, llm_reply *reply)
{
    double ra = t->retry_after_ms_s >= 0 ? t->retry_after_ms_s : t->retry_after_s;
    double wait = ra >= 0 ? ra : backoff_wait(cfg, retries, rng);
    if (cfg->backoff_max_s >= 0 && wait > cfg->backoff_max_s) wait = cfg->backoff_max_s;
    if (wait < 0) wait = 0;
    reply->waits[reply->nwaits++] = wait;
    if (cfg->on_retry) cfg->on_retry(cfg->on_retry_ctx, reply->attempts, wait, reply->error);
    if (sleep_interruptible(wait, cfg->cancel)) {
        dc_fmt(reply->error, sizeof reply->error, "interrupted while waiting to retry %s", url);
        return -1;
    }
    return 0;
}

int llm_chat(const llm_config *cfg, const llm_message *msgs, int nmsgs, llm_reply *reply)
{
    double t0 = dc_now();
    memset(reply, 0, sizeof *reply);
    char err[512];
    if (validate(cfg, msgs, nmsgs, err, sizeof err) != 0) return fail_early(reply, t0, err);

    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) return fail_early(reply, t0, "libcurl failed to initialise (curl_global_init)");

    char url[1024];
    if (endpoint_url(cfg->api_base, url, sizeof url) != 0)
        return fail_early(reply, t0, "api_base is too long (over 1000 characters)");

    uint64_t skey = server_key(cfg);
    int json_mode = cfg->json_mode && !jm_rejected(skey);
    int json_fallback_done = 0;
    int max_retries = cfg->max_retries < 0 ? 0 : cfg->max_retries > LLM_MAX_RETRIES ? LLM_MAX_RETRIES : cfg->max_retries;

    reply->request_json = build_request(cfg, msgs, nmsgs, json_mode);
    if (!reply->request_json) return fail_early(reply, t0, "cannot build the request JSON (out of memory)");
    reply->response_raw = dc_strdup("");

    CURL *curl = curl_easy_init();
    struct curl_slist *headers = make_headers(cfg->api_key);
    if (!curl || !headers) {
        if (curl) curl_easy_cleanup(curl);
        free_headers(headers);
        return fail_early(reply, t0, "libcurl could not create a request handle (out of memory)");
    }
    transfer t = {.cancel = cfg->cancel};
    char errbuf[CURL_ERROR_SIZE];
    if (setup_handle(curl, cfg, url, headers, &t, errbuf) != 0) {
        curl_easy_cleanup(curl);
        free_headers(headers);
        return fail_early(reply, t0, "libcurl rejected an option while setting up the request");
    }

    dc_rng rng;
    dc_rng_seed(&rng, dc_hash64(&t0, sizeof t0, (uint64_t)(uintptr_t)reply ^ (uint64_t)time(NULL)));

    int retries = 0, rc_final = -1;
    for (int guard = 0; guard < LLM_MAX_RETRIES + 3; guard++) {
        if (cfg->cancel && *cfg->cancel) {
            dc_fmt(reply->error, sizeof reply->error, "interrupted before a reply from %s", url);
            break;
        }
        attempt_outcome outcome = attempt_once(curl, cfg, url, &t, errbuf, json_mode, json_fallback_done, reply);
        if (outcome == ATTEMPT_OK) {
            rc_final = 0;
            break;
        }
        if (outcome == ATTEMPT_FAIL) break;
        if (outcome == ATTEMPT_JSON_MODE_REJECTED) {
            /* The server does not know response_format: resend at once without it (the prompt asks
               for JSON anyway) and skip it for this server from now on. Not a retry: no wait. */
            jm_remember(skey);
            json_mode = 0;
            json_fallback_done = 1;
            free(reply->request_json);
            reply->request_json = build_request(cfg, msgs, nmsgs, 0);
            if (!reply->request_json) {
                reply->request_json = dc_strdup("");
                dc_fmt(reply->error, sizeof reply->error, "cannot build the request JSON (out of memory)");
                break;
            }
            continue;
        }
        /* ATTEMPT_RETRY */
        if (retries >= max_retries) {
            char tail[64];
            dc_fmt(tail, sizeof tail, " (gave up after %d attempts)", reply->attempts);
            size_t el = strlen(reply->error), tl = strlen(tail);
            if (reply->attempts > 1 && el + tl < sizeof reply->error) memcpy(reply->error + el, tail, tl + 1);
            break;
        }
        if (wait_before_retry(cfg, &t, retries, &rng, url, reply) != 0) break;
        retries++;
    }

    reply->json_mode_used = json_mode;
    /* A reply without usable content may still have been billed (e.g. finish_reason "length"): the
       last attempt's usage counts either way. */
    reply->cost = reply->tokens_in * cfg->price_in_per_mtok / 1e6 + reply->tokens_out * cfg->price_out_per_mtok / 1e6;
    dc_sb_free(&t.body);
    curl_easy_cleanup(curl);
    free_headers(headers);
    reply->latency_s = dc_now() - t0;
    return rc_final;
}
