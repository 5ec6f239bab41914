#include "prompt.h"

#include "common/paths.h"
#include "common/util.h"
#include "inner_loop/task.h"
#include "proposer.h"
#include "sandbox/sandbox.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The functions a candidate may call: the allow-list of sandbox/discover_objective.h. */
static const char *const allowed_functions =
    "exp, log, log1p, expm1, log2, log10, sqrt, cbrt, pow, fabs, tanh, sinh, cosh, sin, cos, "
    "tan, atan, atan2, erf, erfc, fmin, fmax, floor, ceil, round, trunc, fmod, copysign, hypot, "
    "isfinite, isnan, isinf and the float versions expf, logf, log1pf, sqrtf, powf, fabsf, "
    "tanhf, fminf, fmaxf";

/* The templates every campaign uses; each task's system prompt (inner_loop/task.h) too. */
static const char *const template_files[] = {
    "first_message.txt",
    "result_entry.txt",          "budgeted_message.txt",     "feedback_ok.txt",
    "feedback_parse_error.txt",  "feedback_compile_error.txt", "feedback_violation.txt",
    "feedback_crash.txt",        "feedback_timeout.txt",     "feedback_nonfinite.txt",
    "feedback_invalid.txt",      "feedback_duplicate.txt",   "feedback_error.txt",
};

/* Placeholders each template may use (checked when the folder is opened). */
static const char *const known_keys = " allowed_functions beta fitness_description results name "
                                      "code fitness status best recent failures best_count "
                                      "recent_count error original ";

int dc_prompt_style_file(const dc_prompts *p, const char *style, const char *task_file, char *out,
                         size_t cap, char *err, size_t errcap)
{
    if (!style || !*style || !strcmp(style, "discover")) {
        dc_fmt(out, cap, "%s", task_file);
        return 0;
    }
    if (strcmp(style, "discopop") != 0) {
        dc_fmt(err, errcap, "prompt_style must be discover or discopop (got '%s')", style);
        return -1;
    }
    size_t len = strlen(task_file);
    size_t stem = len > 4 && !strcmp(task_file + len - 4, ".txt") ? len - 4 : len;
    if (dc_fmt_exact(out, cap, "%.*s_discopop.txt", (int)stem, task_file) != 0) {
        dc_fmt(err, errcap, "prompt file name '%s' is too long", task_file);
        return -1;
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", p->dir, out);
    if (access(path, R_OK) != 0) {
        dc_fmt(err, errcap,
               "--prompt-style discopop: the prompt folder '%s' has no %s, so this task has no "
               "DiscoPOP-style prompt; use --prompt-style discover, or write that file",
               p->dir, out);
        return -1;
    }
    return 0;
}

void dc_context_default(dc_context_cfg *c)
{
    c->strategy = DC_CONTEXT_FULL;
    c->top_k = 5;
    c->recent = 3;
    c->failures = 5;
    c->token_budget = 6000;
}

int dc_context_parse(const char *name, dc_context_strategy *out)
{
    if (!strcmp(name, "full")) *out = DC_CONTEXT_FULL;
    else if (!strcmp(name, "budgeted")) *out = DC_CONTEXT_BUDGETED;
    else return -1;
    return 0;
}

static char *load_template(const dc_prompts *p, const char *file, char *err, size_t errcap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", p->dir, file);
    return dc_read_file(path, 1 << 20, NULL, err, errcap);
}

int dc_prompts_open(dc_prompts *p, const char *dir, char *err, size_t errcap)
{
    if (dir && *dir) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            dc_fmt(err, errcap, "prompt folder '%s' does not exist; copy the default prompts/ "
                   "folder there and edit it, or drop --prompts",
                   dir);
            return -1;
        }
        snprintf(p->dir, sizeof p->dir, "%s", dir);
    } else if (dc_resource_path("prompts", p->dir, sizeof p->dir, err, errcap) != 0) {
        return -1;
    }
    const size_t nfixed = sizeof template_files / sizeof *template_files;
    for (size_t i = 0;; i++) {
        const dc_task_ops *task = i < nfixed ? NULL : dc_task_at((int)(i - nfixed));
        if (i >= nfixed && !task) break;
        const char *file = task ? task->system_prompt : template_files[i];
        char e[512];
        char *t = load_template(p, file, e, sizeof e);
        if (!t) {
            dc_fmt(err, errcap, "prompt folder '%s' lacks %s (%s); copy the default prompts/ folder "
                   "and edit it", p->dir, file, e);
            return -1;
        }
        for (const char *s = strstr(t, "{{"); s; s = strstr(s + 2, "{{")) {
            const char *end = strstr(s, "}}");
            char key[64];
            size_t len = end ? (size_t)(end - s - 2) : 0;
            if (!end || len == 0 || len >= sizeof key - 2) {
                dc_fmt(err, errcap, "%s/%s: unterminated or empty {{placeholder}}", p->dir,
                       file);
                free(t);
                return -1;
            }
            char probe[80];
            memcpy(key, s + 2, len);
            key[len] = '\0';
            snprintf(probe, sizeof probe, " %s ", key);
            if (!strstr(known_keys, probe)) {
                dc_fmt(err, errcap, "%s/%s: unknown placeholder {{%s}} (known:%s)", p->dir,
                       file, key, known_keys);
                free(t);
                return -1;
            }
        }
        free(t);
    }
    return 0;
}

char *dc_prompt_render(const dc_prompts *p, const char *file, const char *const *keys,
                       const char *const *vals, int n, char *err, size_t errcap)
{
    char *t = load_template(p, file, err, errcap);
    if (!t) return NULL;
    dc_sb out = {0};
    const char *s = t;
    for (;;) {
        const char *open = strstr(s, "{{");
        if (!open) {
            dc_sb_append(&out, s);
            break;
        }
        const char *close = strstr(open, "}}");
        if (!close) {
            dc_fmt(err, errcap, "%s/%s: unterminated {{placeholder}}", p->dir, file);
            goto fail;
        }
        dc_sb_appendn(&out, s, (size_t)(open - s));
        size_t klen = (size_t)(close - open - 2);
        int found = -1;
        for (int i = 0; i < n; i++)
            if (strlen(keys[i]) == klen && !strncmp(keys[i], open + 2, klen)) found = i;
        if (found < 0) {
            dc_fmt(err, errcap, "%s/%s: placeholder {{%.*s}} has no value in this context",
                   p->dir, file, (int)klen, open + 2);
            goto fail;
        }
        dc_sb_append(&out, vals[found] ? vals[found] : "");
        s = close + 2;
    }
    free(t);
    return dc_sb_take(&out);
fail:
    free(t);
    dc_sb_free(&out);
    return NULL;
}

static char *fmt_fitness(double f)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.4f", f);
    return dc_strdup(buf);
}

char *dc_prompt_feedback(const dc_prompts *p, const arc_candidate *c, const char *original_name,
                         double original_fitness, char *err, size_t errcap)
{
    const char *status = c->status ? c->status : "error";
    if (!strcmp(status, "ok")) {
        char *f = fmt_fitness(c->fitness);
        const char *k[] = {"fitness"}, *v[] = {f};
        char *r = dc_prompt_render(p, "feedback_ok.txt", k, v, 1, err, errcap);
        free(f);
        return r;
    }
    if (!strcmp(status, "duplicate")) {
        /* NaN: the original has no score (it failed). */
        char *f = isnan(original_fitness) ? dc_strdup("none") : fmt_fitness(original_fitness);
        const char *k[] = {"original", "fitness"}, *v[] = {original_name ? original_name : "?", f};
        char *r = dc_prompt_render(p, "feedback_duplicate.txt", k, v, 2, err, errcap);
        free(f);
        return r;
    }
    char file[64];
    const char *kind = status;
    if (dc_status_parse(status) < 0 || !strcmp(status, "interrupted") || !strcmp(status, "error"))
        kind = "error";
    snprintf(file, sizeof file, "feedback_%s.txt", kind);
    /* Strip a trailing period: the templates add their own punctuation. */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", c->message && *c->message ? c->message : status);
    size_t L = strlen(msg);
    while (L > 0 && (msg[L - 1] == '.' || msg[L - 1] == '\n' || msg[L - 1] == ' ')) msg[--L] = '\0';
    const char *k[] = {"error"}, *v[] = {msg};
    return dc_prompt_render(p, file, k, v, 1, err, errcap);
}

void dc_conversation_free(dc_conversation *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->role[i]);
        free(c->content[i]);
    }
    free(c->role);
    free(c->content);
    memset(c, 0, sizeof *c);
}

static void conv_add(dc_conversation *c, const char *role, char *content_owned)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->role = dc_realloc(c->role, (size_t)c->cap * sizeof *c->role);
        c->content = dc_realloc(c->content, (size_t)c->cap * sizeof *c->content);
    }
    c->role[c->n] = dc_strdup(role);
    c->content[c->n] = content_owned;
    c->n++;
}

llm_message *dc_conversation_view(const dc_conversation *c)
{
    llm_message *m = dc_calloc((size_t)(c->n ? c->n : 1), sizeof *m);
    for (int i = 0; i < c->n; i++) {
        m[i].role = c->role[i];
        m[i].content = c->content[i];
    }
    return m;
}

char *dc_proposal_json(const char *thought, const char *name, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "thought", thought ? thought : "");
    cJSON_AddStringToObject(o, "name", name ? name : "");
    cJSON_AddStringToObject(o, "code", code ? code : "");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *r = dc_strdup(s ? s : "{}");
    cJSON_free(s);
    return r;
}

char *dc_completion_content(const char *response_raw)
{
    if (!response_raw || !*response_raw) return NULL;
    cJSON *root = cJSON_Parse(response_raw);
    if (!root) return NULL;
    char *out = NULL;
    cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    cJSON *first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    cJSON *msg = first ? cJSON_GetObjectItemCaseSensitive(first, "message") : NULL;
    cJSON *content = msg ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
    if (cJSON_IsString(content)) out = dc_strdup(content->valuestring);
    cJSON_Delete(root);
    return out;
}

static const arc_candidate *find_cand(const arc_candidate *c, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (c[i].id == id) return &c[i];
    return NULL;
}

static int is_final(const arc_candidate *c)
{
    return dc_status_is_final(c->status);
}

/* One results-list entry (name, code, fitness). */
static int append_entry(const dc_prompts *p, dc_sb *sb, const arc_candidate *c, char *err,
                        size_t errcap)
{
    char *f = c->has_fitness ? fmt_fitness(c->fitness) : dc_strdup("none");
    const char *k[] = {"name", "code", "fitness", "status"};
    const char *v[] = {c->name ? c->name : "", c->code ? c->code : "", f,
                       c->status ? c->status : ""};
    char *e = dc_prompt_render(p, "result_entry.txt", k, v, 4, err, errcap);
    free(f);
    if (!e) return -1;
    dc_sb_append(sb, e);
    free(e);
    return 0;
}

static char *system_prompt(const dc_prompts *p, const char *file, double beta,
                           const char *fitness_description, char *err, size_t errcap)
{
    char b[64];
    snprintf(b, sizeof b, "%g", beta);
    const char *k[] = {"allowed_functions", "beta", "fitness_description"};
    const char *v[] = {allowed_functions, b, fitness_description};
    return dc_prompt_render(p, file, k, v, 3, err, errcap);
}

/* The assistant turn of an archived candidate: the LLM's own words when archived, unless
 * the reply was over DC_REPLY_LIMIT (resent in every later prompt it would dwarf the rest;
 * the candidate's own fields, empty for such a reply, stand in for it). */
static char *assistant_text(archive *a, const arc_candidate *c)
{
    if (c->llm_call_id > 0) {
        arc_llm_call call;
        char e[256];
        if (archive_llm_call_get(a, c->llm_call_id, &call, e, sizeof e) == 0) {
            char *content = dc_call_reply_bytes(&call) <= DC_REPLY_LIMIT
                                ? dc_completion_content(call.response_raw)
                                : NULL;
            arc_llm_call_free(&call);
            if (content) return content;
        }
    }
    return dc_proposal_json(c->thought, c->name, c->code);
}

static int build_full(const dc_prompts *p, archive *a, const arc_candidate *cands, int n,
                      dc_conversation *out, char *err, size_t errcap)
{
    dc_sb results = {0};
    for (int i = 0; i < n; i++)
        if (cands[i].generation == 0 && is_final(&cands[i]) && cands[i].has_fitness)
            if (append_entry(p, &results, &cands[i], err, errcap) != 0) goto fail;
    {
        const char *k[] = {"results"}, *v[] = {results.data ? results.data : "(none yet)\n"};
        char *first = dc_prompt_render(p, "first_message.txt", k, v, 1, err, errcap);
        if (!first) goto fail;
        conv_add(out, "user", first);
    }
    dc_sb_free(&results);
    for (int i = 0; i < n; i++) {
        const arc_candidate *c = &cands[i];
        if (c->generation == 0 || !is_final(c)) continue;
        conv_add(out, "assistant", assistant_text(a, c));
        const arc_candidate *orig = find_cand(cands, n, c->duplicate_of);
        char *fb = dc_prompt_feedback(p, c, orig ? orig->name : NULL,
                                      orig && orig->has_fitness ? orig->fitness : NAN, err,
                                      errcap);
        if (!fb) return -1;
        /* The last feedback already ends in "Please generate the next one." */
        conv_add(out, "user", fb);
    }
    return 0;
fail:
    dc_sb_free(&results);
    return -1;
}

static int cmp_fitness_desc(const void *x, const void *y)
{
    const arc_candidate *a = *(const arc_candidate *const *)x, *b = *(const arc_candidate *const *)y;
    if (a->fitness != b->fitness) return a->fitness < b->fitness ? 1 : -1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static char *budgeted_message(const dc_prompts *p, const arc_candidate *cands, int n, int top_k,
                              int recent, int failures, char *err, size_t errcap)
{
    const arc_candidate **scored = dc_calloc((size_t)n + 1, sizeof *scored);
    int ns = 0;
    for (int i = 0; i < n; i++)
        if (is_final(&cands[i]) && !strcmp(cands[i].status, "ok") && cands[i].has_fitness)
            scored[ns++] = &cands[i];
    qsort(scored, (size_t)ns, sizeof *scored, cmp_fitness_desc);
    dc_sb best = {0}, rec = {0}, fail = {0};
    int nb = ns < top_k ? ns : top_k, nr = 0, rc = -1;
    for (int i = 0; i < nb; i++)
        if (append_entry(p, &best, scored[i], err, errcap) != 0) goto out;
    /* Most recent attempts after the seeds (oldest first), skipping ones already shown. */
    int start = n;
    for (int i = n - 1; i >= 0 && nr < recent; i--) {
        if (cands[i].generation == 0 || !is_final(&cands[i])) continue;
        start = i;
        nr++;
    }
    for (int i = start; i < n; i++) {
        if (cands[i].generation == 0 || !is_final(&cands[i])) continue;
        if (append_entry(p, &rec, &cands[i], err, errcap) != 0) goto out;
    }
    int nf = 0;
    for (int i = n - 1; i >= 0 && nf < failures; i--) {
        const arc_candidate *c = &cands[i];
        if (!is_final(c) || !strcmp(c->status, "ok") || !strcmp(c->status, "duplicate")) continue;
        dc_sb_printf(&fail, "- %s: %s: %s\n", c->name && *c->name ? c->name : "(unnamed)", c->status,
                     c->message ? c->message : "");
        nf++;
    }
    {
        char bc[16], rcnt[16];
        snprintf(bc, sizeof bc, "%d", nb);
        snprintf(rcnt, sizeof rcnt, "%d", nr);
        const char *k[] = {"best", "recent", "failures", "best_count", "recent_count"};
        const char *v[] = {best.data ? best.data : "(none yet)\n", rec.data ? rec.data : "(none yet)\n",
                           fail.data ? fail.data : "(none)\n", bc, rcnt};
        char *msg = dc_prompt_render(p, "budgeted_message.txt", k, v, 5, err, errcap);
        dc_sb_free(&best);
        dc_sb_free(&rec);
        dc_sb_free(&fail);
        free(scored);
        return msg;
    }
out:
    (void)rc;
    dc_sb_free(&best);
    dc_sb_free(&rec);
    dc_sb_free(&fail);
    free(scored);
    return NULL;
}

int dc_prompt_conversation(const dc_prompts *p, archive *a, const char *system_file, double beta,
                           const char *fitness_description, const dc_context_cfg *ctx,
                           const arc_candidate *cands, int ncands, dc_conversation *out,
                           char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    char *sys = system_prompt(p, system_file, beta, fitness_description, err, errcap);
    if (!sys) return -1;
    conv_add(out, "system", sys);
    if (ctx->strategy == DC_CONTEXT_FULL) {
        if (build_full(p, a, cands, ncands, out, err, errcap) != 0) goto fail;
        return 0;
    }
    /* Budgeted: shrink recent, then best, until the estimate (4 characters a token) fits. */
    int top_k = ctx->top_k, recent = ctx->recent;
    for (;;) {
        char *msg = budgeted_message(p, cands, ncands, top_k, recent, ctx->failures, err, errcap);
        if (!msg) goto fail;
        size_t tokens = (strlen(msg) + strlen(sys)) / 4;
        if ((int)tokens <= ctx->token_budget || (top_k <= 1 && recent <= 0)) {
            conv_add(out, "user", msg);
            return 0;
        }
        free(msg);
        if (recent > 0) recent--;
        else top_k--;
    }
fail:
    dc_conversation_free(out);
    return -1;
}
