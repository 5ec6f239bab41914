#define _GNU_SOURCE
#include "progress.h"

#include "common/safe_text.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void pool_draw(dc_ui *u, const char *tag);

void dc_ui_init(dc_ui *u, const dc_campaign_cfg *cfg, const dc_campaign_summary *sum)
{
    memset(u, 0, sizeof *u);
    u->tty = isatty(STDERR_FILENO);
    u->narrate = cfg->narrate;
    u->quiet = cfg->quiet;
    u->generations = cfg->generations;
    u->sum = sum;
}

void dc_ui_clear_line(dc_ui *u)
{
    if (u->line_open) {
        fputs("\r\033[K", stderr);
        u->line_open = 0;
    }
}

static void on_step(void *ctx, const char *phase, int step, int total, double loss)
{
    dc_ui *u = ctx;
    if (u->relay) u->relay(u->relay_ctx, phase, step, total);
    if (u->quiet || !u->tty) return;
    double now = dc_now();
    if (now - u->last_draw < 0.1 && step < total) return;
    u->last_draw = now;
    char eta[32] = "";
    double el = now - u->cand_t0;
    if (step > 0 && total > step && u->cand_t0 > 0)
        snprintf(eta, sizeof eta, " ETA %.0fs", el / step * (total - step));
    // names come from the proposer: escaped, so the status line cannot be rewritten
    dc_safe_pool sp = {0};
    char best[96] = "";
    if (u->sum && u->sum->best_id)
        dc_fmt(best, sizeof best, " | best %.4f %s", u->sum->best_fitness,
               dc_safe(&sp, u->sum->best_name, DC_SAFE_LINE));
    fprintf(stderr, "\r\033[K[gen %d/%d] %.24s %s %d/%d loss %.4g%s%s", u->generation,
            u->generations, dc_safe(&sp, u->candidate ? u->candidate : "", DC_SAFE_LINE), phase,
            step, total, loss, eta, best);
    dc_safe_free(&sp);
    u->line_open = 1;
}

dc_progress dc_ui_progress(dc_ui *u, volatile sig_atomic_t *stop)
{
    dc_progress p = {.ctx = u, .on_step = on_step, .stop = stop};
    return p;
}

void dc_ui_campaign_start(dc_ui *u, const char *archive_path, const char *proposer)
{
    if (u->quiet) return;
    dc_ui_clear_line(u);
    dc_safe_pool sp = {0};
    fprintf(stderr, "campaign '%s' (proposer %s, archive %s)\n",
            dc_safe(&sp, u->sum->campaign, DC_SAFE_LINE), dc_safe(&sp, proposer, DC_SAFE_LINE),
            dc_safe(&sp, archive_path, DC_SAFE_LINE));
    dc_safe_free(&sp);
}

void dc_ui_proposing(dc_ui *u)
{
    if (u->quiet || !u->tty) return;
    if (u->nslots > 0) { /* the evaluators go on training meanwhile */
        pool_draw(u, "proposing");
        return;
    }
    dc_ui_clear_line(u);
    fprintf(stderr, "[gen %d/%d] proposing...", u->generation, u->generations);
    u->line_open = 1;
}

/* First lines of a text (the proposer's thought or code), indented and escaped, for
 * narration. */
static void print_indented(const char *text, int max_lines)
{
    int lines = 0;
    const char *s = text;
    while (*s && lines < max_lines) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        dc_sb line = {0};
        dc_sb_appendn(&line, s, len);
        fputs("      ", stderr);
        dc_safe_fputs(line.data, DC_SAFE_LINE, stderr);
        fputc('\n', stderr);
        dc_sb_free(&line);
        lines++;
        s = nl ? nl + 1 : s + len;
    }
    if (*s) fprintf(stderr, "      ...\n");
}

void dc_ui_proposal(dc_ui *u, const dc_proposal *p)
{
    if (u->quiet || !u->narrate) return;
    dc_ui_clear_line(u);
    fprintf(stderr, "\n== Generation %d of %d ==\n", u->generation, u->generations);
    fprintf(stderr, "  1. Propose: the proposer writes '");
    dc_safe_fputs(p->text.name ? p->text.name : "?", DC_SAFE_LINE, stderr);
    fprintf(stderr, "'.\n");
    if (p->text.thought && *p->text.thought) {
        fprintf(stderr, "     Thought:\n");
        print_indented(p->text.thought, 6);
    }
    if (p->text.code && *p->text.code) {
        fprintf(stderr, "     Code (the objective, C):\n");
        print_indented(p->text.code, 6);
    }
}

void dc_ui_candidate_start(dc_ui *u, const arc_candidate *c)
{
    u->candidate = c->name;
    u->cand_t0 = dc_now();
    if (u->narrate && !u->quiet && c->generation == 0) {
        dc_ui_clear_line(u);
        fprintf(stderr, "\n== Seed baseline '");
        dc_safe_fputs(c->name, DC_SAFE_LINE, stderr);
        fprintf(stderr, "' (generation 0) ==\n");
    }
}

void dc_ui_screened(dc_ui *u, dc_status st, const char *msg, int separable, double seconds)
{
    if (u->quiet || !u->narrate) return;
    dc_ui_clear_line(u);
    if (st == DC_OK)
        fprintf(stderr,
                "  2. Sandbox: compiled with libtcc in a locked-down worker and pre-screened on "
                "probe batches in %.1f ms: ok (%s).\n",
                seconds * 1e3,
                separable ? "row-separable, fast gradient path" : "uses batch statistics");
    else {
        fprintf(stderr, "  2. Sandbox: rejected (%s): ", dc_status_name(st));
        dc_safe_fputs(msg, DC_SAFE_LINE, stderr);
        fputc('\n', stderr);
    }
    if (st == DC_OK) fprintf(stderr, "  3. Train: the model learns with this loss...\n");
}

void dc_ui_candidate_done(dc_ui *u, const arc_candidate *c, const dc_campaign_summary *sum)
{
    for (int i = 0; i < u->nslots; i++)
        if (u->slots[i].cand == c->id) memset(&u->slots[i], 0, sizeof u->slots[i]);
    if (u->quiet) return;
    dc_ui_clear_line(u);
    // names and messages come from the proposer and the candidate: escaped
    dc_safe_pool sp = {0};
    const char *name = dc_safe(&sp, c->name, DC_SAFE_LINE);
    const char *message = dc_safe(&sp, c->message ? c->message : "", DC_SAFE_LINE);
    const char *best_name = dc_safe(&sp, sum->best_name, DC_SAFE_LINE);
    if (u->narrate) {
        if (!strcmp(c->status, "ok"))
            fprintf(stderr,
                    "  4. Score: fitness %.4f on the validation split (what the proposer sees), "
                    "%.4f on the held-out test split (never shown), %.1f s.\n",
                    c->fitness, c->test_metric, c->seconds);
        else if (!strcmp(c->status, "duplicate"))
            fprintf(stderr, "  4. Not trained: %s; it inherits fitness %.4f.\n", message,
                    c->fitness);
        else
            fprintf(stderr, "  4. No score: %s. This message is the proposer's next feedback.\n",
                    c->status);
        if (sum->best_id)
            fprintf(stderr, "     Best so far: '%s' with fitness %.4f (test %.4f).\n", best_name,
                    sum->best_fitness, sum->best_test);
        dc_safe_free(&sp);
        return;
    }
    char score[64] = "";
    if (c->has_fitness) snprintf(score, sizeof score, " fitness %.4f test %.4f", c->fitness, c->test_metric);
    fprintf(stderr, "[gen %d/%d] #%lld %-24.24s %-13s%s %.1fs", c->generation, u->generations,
            (long long)c->id, name, c->status, score, c->seconds);
    if (strcmp(c->status, "ok") && *message) fprintf(stderr, " (%.120s)", message);
    if (sum->best_id) fprintf(stderr, " | best %.4f %s", sum->best_fitness, best_name);
    fputc('\n', stderr);
    dc_safe_free(&sp);
    pool_draw(u, NULL);
}

void dc_ui_note(dc_ui *u, const char *fmt, ...)
{
    if (u->quiet) return;
    dc_ui_clear_line(u);
    // notes name candidates and quote LLM replies: the whole line is escaped
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    dc_safe_fputs(line, DC_SAFE_LINE, stderr);
    fputc('\n', stderr);
}

void dc_ui_error(dc_ui *u, const char *msg)
{
    dc_ui_clear_line(u);
    fputs("error: ", stderr);
    dc_safe_fputs(msg, DC_SAFE_LINE, stderr);
    fputc('\n', stderr);
}

void dc_ui_campaign_done(dc_ui *u) { dc_ui_clear_line(u); }

/* ---- run --jobs N: one status line for all the evaluators ---- */

/* Length of the longest prefix of s, at most max bytes, that does not cut a UTF-8
 * character. */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    return max;
}

/* Bytes of s that fit in cols columns (a column per character). */
static size_t utf8_cols(const char *s, int cols)
{
    size_t i = 0;
    for (int c = 0; s[i] && c < cols; c++) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

void dc_ui_pool_line(const dc_ui *u, const char *tag, int width, char *buf, size_t cap)
{
    dc_sb b = {0};
    dc_safe_pool sp = {0};
    dc_sb_printf(&b, "[gen %d/%d%s%s]", u->generation, u->generations, tag ? " " : "",
                 tag ? tag : "");
    if (u->llm_out > 0) dc_sb_printf(&b, " [llm %d out]", u->llm_out);
    for (int i = 0; i < u->nslots; i++) {
        const dc_ui_slot *sl = &u->slots[i];
        if (!sl->cand) {
            dc_sb_printf(&b, " [e%d idle]", i);
            continue;
        }
        // names come from the proposer: escaped, then cut without splitting a character
        const char *name = dc_safe(&sp, sl->name, DC_SAFE_LINE);
        dc_sb_printf(&b, " [e%d gen %d %.*s", i, sl->generation, (int)utf8_prefix(name, 16), name);
        if (sl->steps > 0) {
            if (sl->phase[0] && strcmp(sl->phase, "train") != 0)
                dc_sb_printf(&b, " %s", dc_safe(&sp, sl->phase, DC_SAFE_LINE));
            dc_sb_printf(&b, " %d/%d", sl->step, sl->steps);
        }
        dc_sb_append(&b, "]");
    }
    if (u->sum && u->sum->best_id)
        dc_sb_printf(&b, " | best %.4f %s", u->sum->best_fitness,
                     dc_safe(&sp, u->sum->best_name, DC_SAFE_LINE));
    const char *line = b.data ? b.data : "";
    size_t n = width > 0 ? utf8_cols(line, width) : strlen(line);
    if (n >= cap) n = cap ? utf8_prefix(line, cap - 1) : 0;
    if (cap) {
        memcpy(buf, line, n);
        buf[n] = 0;
    }
    dc_safe_free(&sp);
    dc_sb_free(&b);
}

/* Draws the slots' line on a terminal, one column short of its width so it never wraps
 * (a wrapped line could not be cleared by \r). Progress reports arrive at most every
 * DC_PROGRESS_EVERY_S per evaluator, so every change is drawn. */
static void pool_draw(dc_ui *u, const char *tag)
{
    if (u->quiet || !u->tty || u->nslots == 0) return;
    struct winsize ws;
    int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    char line[4096];
    dc_ui_pool_line(u, tag, cols - 1, line, sizeof line);
    fprintf(stderr, "\r\033[K%s", line);
    u->line_open = 1;
}

void dc_ui_llm_out(dc_ui *u, int n)
{
    u->llm_out = n;
    pool_draw(u, NULL);
}

void dc_ui_slots(dc_ui *u, int n)
{
    free(u->slots);
    u->slots = n > 0 ? dc_calloc((size_t)n, sizeof *u->slots) : NULL;
    u->nslots = n > 0 ? n : 0;
}

void dc_ui_slot_start(dc_ui *u, int slot, const arc_candidate *c)
{
    if (slot < 0 || slot >= u->nslots) return;
    dc_ui_slot *sl = &u->slots[slot];
    memset(sl, 0, sizeof *sl);
    sl->cand = c->id;
    sl->generation = c->generation;
    snprintf(sl->name, sizeof sl->name, "%s", c->name ? c->name : "");
    pool_draw(u, NULL);
}

void dc_ui_slot_step(dc_ui *u, int slot, int64_t cand, const char *phase, int step, int steps)
{
    if (slot < 0 || slot >= u->nslots || u->slots[slot].cand != cand || cand == 0) return;
    dc_ui_slot *sl = &u->slots[slot];
    snprintf(sl->phase, sizeof sl->phase, "%s", phase ? phase : "");
    sl->step = step;
    sl->steps = steps;
    pool_draw(u, NULL);
}

void dc_ui_slot_idle(dc_ui *u, int slot)
{
    if (slot < 0 || slot >= u->nslots || !u->slots[slot].cand) return;
    memset(&u->slots[slot], 0, sizeof u->slots[slot]);
    pool_draw(u, NULL);
}
