/* export_pytorch.c — `discover export ID --format pytorch`: one self-contained Python module.
 *
 * Layout of the module: the metadata header as comments (export_meta.c) with how the loss
 * is computed and, for C, the plain warning that nothing sandboxes it; a docstring; META;
 * then either the loss as PyTorch operations rendered from the genome (an offline-proposer
 * candidate whose code is exactly what its genome renders to) or the C source with the
 * objective header and the ctypes runtime (export_pytorch_ctypes.py); last the argument
 * checks and `loss` (export_pytorch_api.py). The module imports only the standard library
 * and torch, so it works where discover is not installed.
 *
 * Text from the archive becomes Python string literals written in plain ASCII with escapes
 * (py_str): the module imports whatever bytes the LLM wrote, and the C path writes the
 * source back byte for byte. */
#include "export.h"

#include "discover/propose/evolve/evolve.h"
#include "sandbox/sandbox.h"
#include "common/util.h"

#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (at most `left` bytes) with its code point in
 * *cp, or 0 when the bytes there are not valid UTF-8 (overlong, surrogate, past U+10FFFF,
 * cut short). */
static size_t utf8_next(const unsigned char *p, size_t left, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        len = 2, c = p[0] & 0x1f, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3, c = p[0] & 0x0f, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > left) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return len;
}

/* Appends bytes [s, s+len) as one Python string literal '...': printable ASCII as itself
 * (\\ and \' escaped), newline, tab and carriage return as \n \t \r, other control
 * characters as \xHH, other code points as \uHHHH / \UHHHHHHHH, and each byte that is not
 * part of valid UTF-8 as \udcHH, which is how Python's "surrogateescape" holds it:
 * .encode("utf-8", "surrogateescape") gives the original bytes back. */
static void py_str(dc_sb *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    dc_sb_append(b, "'");
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_next(p + i, len - i, &cp);
        if (n == 0) {
            dc_sb_printf(b, "\\udc%02x", p[i]);
            i++;
            continue;
        }
        i += n;
        if (cp == '\\' || cp == '\'')
            dc_sb_printf(b, "\\%c", (char)cp);
        else if (cp == '\n')
            dc_sb_append(b, "\\n");
        else if (cp == '\t')
            dc_sb_append(b, "\\t");
        else if (cp == '\r')
            dc_sb_append(b, "\\r");
        else if (cp >= 0x20 && cp < 0x7f)
            dc_sb_printf(b, "%c", (char)cp);
        else if (cp < 0x100)
            dc_sb_printf(b, "\\x%02x", (unsigned)cp);
        else if (cp < 0x10000)
            dc_sb_printf(b, "\\u%04x", (unsigned)cp);
        else
            dc_sb_printf(b, "\\U%08x", (unsigned)cp);
    }
    dc_sb_append(b, "'");
}

static void py_str0(dc_sb *b, const char *s)
{
    py_str(b, s ? s : "", s ? strlen(s) : 0);
}

/* A long text as a parenthesised run of literals, one per line of the text, so the C source
 * reads as C in the module. */
static void py_text_block(dc_sb *b, const char *name, const char *text)
{
    dc_sb_printf(b, "%s = (\n", name);
    const char *p = text;
    if (!*p) dc_sb_append(b, "    ''\n");
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        dc_sb_append(b, "    ");
        py_str(b, p, n);
        dc_sb_append(b, "\n");
        p += n;
    }
    dc_sb_append(b, ")\n");
}

/* The shortest %.*g that reads back as v (Python floats are doubles too); None when not
 * finite or absent. */
static void py_float(dc_sb *b, int has, double v)
{
    if (!has || !isfinite(v)) {
        dc_sb_append(b, "None");
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* "1e+300" and "3" are Python numbers as they stand; make integral values floats */
    dc_sb_append(b, buf);
    if (!strpbrk(buf, ".eE")) dc_sb_append(b, ".0");
}

/* A parsed JSON value as a Python literal (dicts, lists, str, float, True/False/None). */
static void py_json(dc_sb *b, const cJSON *v)
{
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        int obj = cJSON_IsObject(v), first = 1;
        dc_sb_append(b, obj ? "{" : "[");
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!first) dc_sb_append(b, ", ");
            first = 0;
            if (obj) {
                py_str0(b, it->string);
                dc_sb_append(b, ": ");
            }
            py_json(b, it);
        }
        dc_sb_append(b, obj ? "}" : "]");
    } else if (cJSON_IsString(v)) {
        py_str0(b, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        /* JSON does not tell 10 from 10.0: whole numbers (steps, seeds) as Python ints */
        double x = v->valuedouble;
        if (x == floor(x) && fabs(x) < 1e15)
            dc_sb_printf(b, "%.0f", x);
        else
            py_float(b, 1, x);
    } else if (cJSON_IsBool(v)) {
        dc_sb_append(b, cJSON_IsTrue(v) ? "True" : "False");
    } else {
        dc_sb_append(b, "None");
    }
}

/* Everything after the second line: evolve_render's second line names the candidate, which
 * the archive may hold under another name. */
static const char *after_line2(const char *s)
{
    for (int i = 0; i < 2 && s; i++) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    return s ? s : "";
}

/* 1 with *g set when the candidate is an offline-proposer genome whose code is exactly what
 * the genome renders to, so the rendered tensor operations compute what was archived. Code
 * with a genome line that was edited afterwards (or a hand-copied line) goes the C path. */
static int code_is_genome(const arc_candidate *c, sbx_kind kind, evolve_genome *g)
{
    char err[256];
    if (evolve_genome_from_code(c->code, g, err, sizeof err) != 0 || g->iface != (int)kind)
        return 0;
    char *code = evolve_render(g, c->name ? c->name : "");
    int same = code && strcmp(after_line2(code), after_line2(c->code)) == 0;
    free(code);
    if (!same && kind == SBX_PREF) {
        /* archived before preference genomes carried objective_grad: the loss alone */
        code = evolve_render_seq(g, c->name ? c->name : "");
        same = code && strcmp(after_line2(code), after_line2(c->code)) == 0;
        free(code);
    }
    return same;
}

static void meta_entry(dc_sb *b, const char *key)
{
    dc_sb_printf(b, "    '%s': ", key);
}

static void meta_dict(dc_sb *b, const export_source *e, const dc_task_ops *task,
                      const char *genome_line)
{
    const arc_candidate *c = e->c;
    dc_sb_append(
        b, "# The header's metadata, for programs (fitness and test_metric: None when absent).\n"
           "META = {\n");
    meta_entry(b, "name");
    py_str0(b, c->name);
    dc_sb_append(b, ",\n");
    meta_entry(b, "task");
    py_str0(b, task->name);
    dc_sb_printf(b, ",\n    'interface': '%s',\n",
                 task->kind == SBX_PREF ? "preference" : "classification");
    meta_entry(b, "fitness");
    py_float(b, c->has_fitness, c->fitness);
    dc_sb_append(b, ",\n");
    meta_entry(b, "fitness_name");
    py_str0(b, task->fitness_name);
    dc_sb_append(b, ",\n");
    meta_entry(b, "test_metric");
    py_float(b, 1, c->test_metric);
    dc_sb_append(b, ",\n");
    meta_entry(b, "test_name");
    py_str0(b, task->test_name);
    dc_sb_append(b, ",\n");
    meta_entry(b, "campaign");
    py_str0(b, e->camp->name);
    dc_sb_printf(b, ",\n    'generation': %d,\n    'candidate_id': %lld,\n", c->generation,
                 (long long)c->id);
    meta_entry(b, "status");
    py_str0(b, c->status);
    dc_sb_append(b, ",\n");
    meta_entry(b, "message");
    py_str0(b, c->message);
    dc_sb_append(b, ",\n");
    meta_entry(b, "thought");
    py_str0(b, c->thought);
    dc_sb_append(b, ",\n");
    meta_entry(b, "metrics");
    cJSON *m = cJSON_Parse(c->metrics_json ? c->metrics_json : "");
    if (cJSON_IsObject(m))
        py_json(b, m);
    else
        dc_sb_append(b, "None");
    cJSON_Delete(m);
    dc_sb_append(b, ",\n");
    meta_entry(b, "config");
    m = cJSON_Parse(e->camp->config_json ? e->camp->config_json : "");
    if (cJSON_IsObject(m))
        py_json(b, m);
    else
        dc_sb_append(b, "None");
    cJSON_Delete(m);
    dc_sb_append(b, ",\n");
    meta_entry(b, "archive");
    py_str0(b, e->archive);
    dc_sb_append(b, ",\n");
    meta_entry(b, "genome");
    if (genome_line)
        py_str0(b, genome_line);
    else
        dc_sb_append(b, "None");
    dc_sb_printf(b, ",\n    'implementation': '%s',\n}\n",
                 genome_line ? "torch" : "c-ctypes-unsandboxed");
}

static void how_rendered(dc_sb *b, const char *genome_line)
{
    export_line(b, EXPORT_PY,
                "How it computes: PyTorch tensor operations rendered from the candidate's genome");
    export_line(b, EXPORT_PY,
                "(discover's offline proposer wrote it): autograd differentiates them on any");
    export_line(b, EXPORT_PY,
                "device and dtype, no C involved. In float64 they agree with the archived C code");
    export_line(b, EXPORT_PY, "to rounding. The genome:");
    export_comment(b, EXPORT_PY, genome_line, "  ");
}

static void how_ctypes(dc_sb *b)
{
    static const char *const lines[] = {
        "How it computes: the candidate's C source (_C_SOURCE below, as archived) is compiled",
        "once, on the first call, with the system C compiler ($CC, else cc) into a shared",
        "object cached under $XDG_CACHE_HOME/discover/objectives (else ~/.cache/discover/",
        "objectives), loaded with ctypes and wrapped in a torch.autograd.Function that calls",
        "objective on float64 CPU copies of the inputs; losses and gradients come back in the",
        "inputs' dtype and on their device. Backward: objective_grad when the source defines",
        "it and it agrees with central differences on the first batch (as the sandbox checks",
        "it), else central differences with the sandbox's rule (step 3e-7*max(1, |x|), all rows",
        "at once when the batch is row-separable). The reference log-probs, beta and the",
        "lengths are constants.",
        "",
        "WARNING: NO SANDBOX. This path runs the candidate's C code inside your Python process,",
        "with your privileges. discover compiled and ran it in a locked-down worker (seccomp,",
        "no files, no network); here nothing stops it from reading your files, starting",
        "programs or using the network. Read _C_SOURCE before you call loss().",
        NULL};
    for (int i = 0; lines[i]; i++)
        export_line(b, EXPORT_PY, lines[i]);
}

static void use_it(dc_sb *b, const export_source *e, const dc_task_ops *task)
{
    char mod[256];
    const char *f = e->file_name;
    size_t n = strlen(f);
    if (n > 3 && !strcmp(f + n - 3, ".py")) n -= 3;
    dc_fmt(mod, sizeof mod, "%.*s", (int)n, f);
    char line[1024];
    export_line(b, EXPORT_PY, "Use it:");
    export_comment(b, EXPORT_PY, dc_fmt(line, sizeof line, "import %s", mod), "  ");
    if (task->kind == SBX_PREF)
        export_comment(b, EXPORT_PY,
                       dc_fmt(line, sizeof line,
                              "losses = %s.loss(policy_chosen_logps, policy_rejected_logps,\n"
                              "    reference_chosen_logps, reference_rejected_logps, beta=0.1)",
                              mod),
                       "  ");
    else
        export_comment(b, EXPORT_PY,
                       dc_fmt(line, sizeof line, "losses = %s.loss(logits, labels)", mod), "  ");
    export_line(b, EXPORT_PY,
                task->kind == SBX_PREF ? "  losses.mean().backward()      # one loss per pair"
                                       : "  losses.mean().backward()      # one loss per row");
    export_line(b, EXPORT_PY, "examples/pytorch/ in discover's sources: a training loop and a TRL");
    export_line(b, EXPORT_PY, "DPOTrainer subclass that use such a module.");
}

char *export_pytorch(const export_source *e, const dc_task_ops *task, int *rendered, char *err,
                     size_t errcap)
{
    const arc_candidate *c = e->c;
    evolve_genome g;
    char genome_line[1024];
    char *torch_code = NULL;
    *rendered = 0;
    if (task->kind != SBX_PREF && task->kind != SBX_CLS) {
        /* the module's C path calls the preference or the classification signature */
        dc_fmt(err, errcap,
               "--format pytorch exports preference and classification objectives; task %s's "
               "interface (%d) is not supported yet",
               task->name, (int)task->kind);
        return NULL;
    }
    *rendered = code_is_genome(c, task->kind, &g) &&
                evolve_genome_format(&g, genome_line, sizeof genome_line) == 0 &&
                (torch_code = evolve_render_torch(&g)) != NULL;
    if (!c->code || !*c->code) {
        dc_fmt(err, errcap, "candidate %lld has no code to export", (long long)c->id);
        free(torch_code);
        return NULL;
    }

    dc_sb b = {0};
    dc_sb_append(&b, "# discover objective, exported from an archive as a PyTorch module.\n#\n");
    export_metadata(&b, EXPORT_PY, e);
    export_line(&b, EXPORT_PY, "");
    if (*rendered)
        how_rendered(&b, genome_line);
    else
        how_ctypes(&b);
    export_line(&b, EXPORT_PY, "");
    use_it(&b, e, task);
    dc_sb_printf(
        &b,
        "\n\"\"\"A loss found by discover, exported by 'discover export --format pytorch'.\n\n"
        "loss(...) returns one loss per %s; META holds the name, task, fitness\n"
        "and the rest of the header above.\n\"\"\"\n\n",
        task->kind == SBX_PREF ? "pair" : "row");
    dc_sb_append(&b, "import math\n\nimport torch\n\n__all__ = [\"loss\", \"META\"]\n\n");
    meta_dict(&b, e, task, *rendered ? genome_line : NULL);
    dc_sb_printf(&b, "\n_KIND = \"%s\"\n\n", task->kind == SBX_PREF ? "pref" : "cls");
    if (*rendered) {
        dc_sb_append(&b, torch_code);
    } else {
        dc_sb_append(
            &b, "# The objective interface (discover's sandbox/discover_objective.h), which the\n"
                "# C source is compiled against.\n");
        py_text_block(&b, "_OBJECTIVE_HEADER", dc_export_objective_header);
        dc_sb_append(&b, "\n# The candidate's code, exactly as archived.\n");
        py_text_block(&b, "_C_SOURCE", c->code);
        dc_sb_append(&b, "\n");
        dc_sb_append(&b, dc_export_pytorch_ctypes);
    }
    dc_sb_append(&b, "\n\n");
    dc_sb_append(&b, dc_export_pytorch_api);
    free(torch_code);
    return dc_sb_take(&b);
}
