/* fake_llm_server.h — a scripted OpenAI-compatible HTTP server for tests.
 *
 * Replies come per model (fake_llm_set_model_replies) or from a queue.
 * Runs in a thread of the test process on 127.0.0.1 (ephemeral port), so it also serves a
 * `discover` child process the test starts. Each request takes the next scripted reply from a
 * queue (or the fallback reply when the queue is empty) and is recorded (method, path, headers,
 * body) for the test to inspect. One request per connection ("Connection: close").
 *
 * Bounded: it serves at most FAKE_LLM_MAX_REQUESTS requests, reads at most FAKE_LLM_MAX_REQUEST
 * bytes per request, serves each connection on a thread of its own (up to 32 at once, so
 * calls in flight overlap as with a real server), gives a silent client FAKE_LLM_READ_TIMEOUT_S, and stops by itself after
 * its lifetime (fake_llm_start_opts) even if the test never calls fake_llm_stop. */
#ifndef DC_FAKE_LLM_SERVER_H
#define DC_FAKE_LLM_SERVER_H

#include <stddef.h>

#define FAKE_LLM_MAX_REQUESTS 4096
#define FAKE_LLM_MAX_REQUEST (8u << 20)
#define FAKE_LLM_READ_TIMEOUT_S 5.0
#define FAKE_LLM_DEFAULT_LIFETIME_S 120.0
#define FAKE_LLM_MAX_MODELS 8

typedef struct {
    int status;            /* HTTP status; 0 means 200 */
    const char *headers;   /* extra header lines, each ending in "\r\n" (e.g. "Retry-After: 1\r\n"); may be NULL */
    const char *body;      /* response body; NULL = "" */
    double delay_s;        /* wait this long before answering (the client may time out meanwhile) */
    long truncate_at;      /* >= 0: announce the full Content-Length but send only this many body bytes, then
                              close; < 0 (use FAKE_LLM_WHOLE): send everything */
    int close_without_reply; /* read the request, then close the connection without a byte */
} fake_llm_reply;
#define FAKE_LLM_WHOLE (-1L)

typedef struct fake_llm fake_llm;

/* Starts the server thread. NULL (and a message on stderr) when the socket or thread fails. */
fake_llm *fake_llm_start(void);
fake_llm *fake_llm_start_opts(double lifetime_s);
/* Stops the thread, frees everything (recorded strings included). NULL is fine. */
void fake_llm_stop(fake_llm *s);

int fake_llm_port(const fake_llm *s);
/* "http://127.0.0.1:PORT/v1" — what to pass as api_base. */
const char *fake_llm_base_url(const fake_llm *s);

/* Queues a reply (strings are copied). */
void fake_llm_push(fake_llm *s, const fake_llm_reply *r);
/* Queues a 200 chat completion whose choices[0].message.content is content (JSON-escaped here),
   with usage {prompt_tokens, completion_tokens}. */
void fake_llm_push_content(fake_llm *s, const char *content, int prompt_tokens, int completion_tokens);
/* Queues an error reply: status with body {"error":{"message":message,...}} and extra headers. */
void fake_llm_push_error(fake_llm *s, int status, const char *message, const char *headers);
/* The reply used when the queue is empty (copied; NULL restores the default: HTTP 410 with the
   error message "fake_llm_server: script exhausted", which a client does not retry). */
void fake_llm_set_fallback(fake_llm *s, const fake_llm_reply *r);
/* Answers every request whose body names `model` with the next of contents (copied; round
   and round), as a 200 completion with usage 100 prompt + 50 completion tokens, before the
   queue is looked at: a campaign of several models gets each model's own replies. */
void fake_llm_set_model_replies(fake_llm *s, const char *model, const char *const *contents, int n);
/* Answers model's requests after delay_s (set its replies first): a slow model. */
void fake_llm_set_model_delay(fake_llm *s, const char *model, double delay_s);
/* The most connections served at once so far (each is served on a thread of its own). */
int fake_llm_peak_connections(fake_llm *s);
/* Scripted replies not yet consumed. */
int fake_llm_pending(fake_llm *s);

/* The content a model writes for a candidate: {"thought","name","code"} as JSON (malloc'ed). */
char *fake_llm_candidate_reply(const char *thought, const char *name, const char *code);
/* The `model` field of request i's body into buf ("" when none). */
void fake_llm_request_model(fake_llm *s, int i, char *buf, size_t cap);

/* Requests received so far (including ones answered by closing). */
int fake_llm_request_count(fake_llm *s);
/* Recorded parts of request i (0-based); NULL when i is out of range. The strings stay valid until
   fake_llm_stop. headers is the raw header block (request line excluded, "\r\n"-separated). */
const char *fake_llm_request_method(fake_llm *s, int i);
const char *fake_llm_request_path(fake_llm *s, int i);
const char *fake_llm_request_headers(fake_llm *s, int i);
const char *fake_llm_request_body(fake_llm *s, int i);
/* Value of header name (case-insensitive) in request i, or NULL. */
const char *fake_llm_request_header(fake_llm *s, int i, const char *name);
/* Monotonic time (dc_now) at which request i was fully read; -1 if out of range. */
double fake_llm_request_time(fake_llm *s, int i);

#endif
