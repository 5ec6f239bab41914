/* llm_client.h — one chat completion from an OpenAI-compatible server (OpenAI, vLLM, Ollama,
 * llama.cpp, ...) over libcurl, with bounded retries and exact records of what was sent.
 *
 * The outer loop archives request_json/response_raw verbatim, so the API key travels only in
 * an HTTP header and is scrubbed from everything this module returns or prints. */
#ifndef DC_LLM_CLIENT_H
#define DC_LLM_CLIENT_H

#include <signal.h>

typedef struct {
    const char *api_base;      /* e.g. "https://api.openai.com/v1", "http://localhost:8000/v1" (vLLM),
                                  "http://localhost:11434/v1" (Ollama), "http://localhost:8080/v1" (llama.cpp) */
    const char *model;
    const char *api_key;       /* may be NULL/"" (local servers); sent only as "Authorization: Bearer" */
    double temperature;        /* default 1.0 */
    int max_tokens;            /* default 2048; 0 = omit */
    int json_mode;             /* 1: send response_format {"type":"json_object"}; if the server rejects it
                                  (400 mentioning response_format), retry once without and remember that */
    double connect_timeout_s;  /* default 10 */
    double total_timeout_s;    /* default 300: the limit for one attempt (libcurl's CURLOPT_TIMEOUT) */
    int max_retries;           /* default 5 (attempts = 1 + retries); clamped to [0, LLM_MAX_RETRIES] */
    double backoff_base_s;     /* default 1.0: exponential back-off base with full jitter */
    double backoff_max_s;      /* default 60: caps each wait, Retry-After included */
    double price_in_per_mtok;  /* cost per million prompt tokens (user-set, default 0) */
    double price_out_per_mtok; /* cost per million completion tokens */

    /* ---- optional (zeroed by llm_config_default) ---- */
    /* When non-NULL and set non-zero (e.g. by a SIGINT handler), a back-off wait stops within
       0.05 s and a request in flight within about 1 s (libcurl's progress callback rate when the
       line is idle); the reply's error then starts with "interrupted". */
    volatile sig_atomic_t *cancel;
    /* Called before each back-off wait (progress lines such as "HTTP 429, retrying in 12 s").
       reason is the error of the attempt that failed (key already scrubbed). */
    void (*on_retry)(void *ctx, int attempt, double wait_s, const char *reason);
    void *on_retry_ctx;
} llm_config;

#define LLM_MAX_RETRIES 20

void llm_config_default(llm_config *c);
/* API key from the environment: DISCOVER_API_KEY, else OPENAI_API_KEY, else NULL (empty counts as unset). */
const char *llm_key_from_env(void);

typedef struct { const char *role; const char *content; } llm_message;   /* "system" | "user" | "assistant" */

typedef struct {
    int ok;              /* 1 when a completion was received */
    int http_status;     /* last HTTP status, 0 if none */
    char *content;       /* choices[0].message.content, or NULL */
    char *request_json;  /* the exact body sent (never contains the key) */
    char *response_raw;  /* last raw body received, or "" */
    int tokens_in, tokens_out;   /* from "usage" (0 when absent) */
    double latency_s;    /* total wall time incl. retries */
    double cost;         /* from the prices */
    int attempts;
    char error[512];     /* "" on success; precise, e.g. "HTTP 401 from http://...: invalid api key" */

    /* ---- extra detail ---- */
    char finish_reason[32];   /* choices[0].finish_reason ("stop", "length", ...), "" if absent */
    int json_mode_used;       /* 1 when the accepted request carried response_format */
    int nwaits;               /* back-off waits actually taken, in order (seconds) */
    double waits[LLM_MAX_RETRIES + 1];
} llm_reply;
void llm_reply_free(llm_reply *r);

/* POSTs {api_base}/chat/completions. Retries with exponential back-off and full jitter on connection errors,
   timeouts, truncated bodies, 429 and 5xx, honouring Retry-After (seconds or HTTP-date; also retry-after-ms)
   when present, bounded by max_retries and backoff_max_s; does not retry other 4xx. Returns 0 when ok, -1
   otherwise (reply->error says why). The API key never appears in request_json, response_raw, error, or
   anything printed. reply is overwritten (call llm_reply_free afterwards either way). Thread-safe. */
int llm_chat(const llm_config *cfg, const llm_message *msgs, int nmsgs, llm_reply *reply);

/* The servers found to reject response_format are remembered for the process (by api_base + model);
   this forgets them (tests, or after the user changes the server). */
void llm_forget_json_mode_rejections(void);

#endif
