/* worker_compile.c — libtcc, inside the worker, after the first seccomp stage.
 *
 * The text handed to tcc is: the sandbox header (discover_objective.h with DISCOVER_SANDBOX
 * defined: the whole world a candidate sees), a prototype of `objective` for the task's
 * interface (so a definition with another signature is a compile error that names it),
 * then `#line 1 "objective.c"` and the filtered candidate, so messages carry the
 * candidate's own line numbers. Options go in BEFORE tcc_set_output_type: Debian's libtcc
 * (0.9.27+git20200814) silently ignores -nostdlib set later, and without it tcc would
 * resolve any libc function by dlsym().
 *
 * Relocation goes into memory of our own rather than tcc's (TCC_RELOCATE_AUTO), which
 * leaves code pages writable and executable. tcc lays out every executable section first
 * and the others after them, each pass starting at an aligned offset. The text handed to
 * tcc starts with a page-aligned variable, `__discover_data`, before anything else can
 * reach the data section, so the data section, the first non-executable one, starts on a
 * page boundary at that variable: everything before it is code (made read + execute, never
 * writable again), everything from it on is the candidate's writable memory (initialised
 * and zeroed statics, constants, tcc's GOT), copied once right after relocation into a
 * read-only pristine copy that every executor copies back before each call. Checked after
 * relocation rather than assumed: the marker must be page-aligned inside the image, with
 * the entry points before it. */
#define _GNU_SOURCE
#include "worker.h"

#include "common/status.h"
#include "source_filter.h"

#include <libtcc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const signatures[3] = {
    "void objective(const pref_batch *b, double *loss)",
    "void objective(int n, int k, const double *logits, const int *labels, double *loss)",
    "void objective(const token_pref_batch *b, double *loss)",
};
/* The optional analytic gradient (discover_objective.h): declared too, so a definition with
 * another signature is a compile error that names it. */
static const char *const grad_signatures[3] = {
    "void objective_grad(const pref_batch *b, double *loss, double *d_chosen, double *d_rejected)",
    "void objective_grad(int n, int k, const double *logits, const int *labels, double *loss, "
    "double *d_logits)",
    "void objective_grad(const token_pref_batch *b, double *loss, double *d_chosen, "
    "double *d_rejected)",
};

typedef struct {
    char *live; /* shared-memory message: the first error, visible to the host even
                   if tcc then exits the process (it does on "memory full") */
    size_t livecap;
    char errors[2048];   /* tcc's error lines, in order */
    char undefined[256]; /* names of undefined symbols, comma-separated */
    int n_undefined;
} diag;

static void on_tcc_message(void *opaque, const char *m)
{
    diag *d = opaque;
    if (strstr(m, "warning:")) return; /* warnings are not the candidate's problem here */
    const char *u = strstr(m, "undefined symbol '");
    if (u) {
        u += strlen("undefined symbol '");
        const char *end = strchr(u, '\'');
        size_t n = end ? (size_t)(end - u) : strlen(u);
        size_t have = strlen(d->undefined);
        if (d->n_undefined < 4 && have + n + 3 < sizeof d->undefined) {
            snprintf(d->undefined + have, sizeof d->undefined - have, "%s%.*s",
                     d->n_undefined ? ", " : "", (int)n, u);
        }
        d->n_undefined++;
        return;
    }
    if (d->live && !d->live[0]) snprintf(d->live, d->livecap, "%s", m);
    size_t have = strlen(d->errors);
    if (have + 2 < sizeof d->errors)
        snprintf(d->errors + have, sizeof d->errors - have, "%s%s", have ? "\n" : "", m);
}

/* First error line, plus a hint when it is about the objective's declaration. */
static void compile_message(const diag *d, int kind, char *msg, size_t cap)
{
    char first[512];
    const char *e = d->errors[0] ? d->errors : "tcc rejected the source";
    /* tcc prefixes context lines ("In file included from ..."): show the error line. */
    const char *err = strstr(e, "error:");
    if (err) {
        while (err > e && err[-1] != '\n')
            err--;
        e = err;
    }
    size_t n = strcspn(e, "\n");
    if (n >= sizeof first) n = sizeof first - 1;
    memcpy(first, e, n);
    first[n] = '\0';
    if (strstr(first, "'objective'") || strstr(first, "objective("))
        snprintf(msg, cap, "%s (the required signature is: %s)", first, signatures[kind]);
    else
        snprintf(msg, cap, "%s", first);
}

/* Relocates s into fresh pages and splits them into code (read + execute) and data (with a
 * read-only pristine copy); see the top of this file. */
static int relocate(TCCState *s, int kind, const diag *d, sbx_image *img, char *msg, size_t msgcap)
{
    int size = tcc_relocate(s, NULL);
    if (size < 0) return -1;
    if ((size_t)size > SBX_MAX_IMAGE) {
        snprintf(msg, msgcap,
                 "the compiled objective needs %d KiB of memory for its code and static "
                 "variables; the sandbox allows %u KiB (static variables are restored before "
                 "every call): use small local arrays instead",
                 size >> 10, SBX_MAX_IMAGE >> 10);
        return DC_COMPILE_ERROR;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE), total = ((size_t)size + page - 1) & ~(page - 1);
    unsigned char *mem =
        mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        snprintf(msg, msgcap, "out of memory relocating the objective (%d KiB)", size >> 10);
        return DC_ERROR;
    }
    if (tcc_relocate(s, mem) < 0) {
        compile_message(d, kind, msg, msgcap);
        return DC_COMPILE_ERROR;
    }
    unsigned char *data = tcc_get_symbol(s, "__discover_data");
    unsigned char *fn = tcc_get_symbol(s, "objective"), *gfn = tcc_get_symbol(s, "objective_grad");
    if (!data || ((uintptr_t)data & (page - 1)) || data < mem || data >= mem + total ||
        (fn && fn >= data) || (gfn && gfn >= data)) {
        snprintf(msg, msgcap,
                 "sandbox worker: libtcc laid out the objective unexpectedly "
                 "(code and data not separable)");
        return DC_ERROR;
    }
    img->base = mem;
    img->data = data;
    img->code_len = (size_t)(data - mem);
    img->data_len = total - img->code_len;
    unsigned char *copy =
        mmap(NULL, img->data_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED) {
        snprintf(msg, msgcap, "out of memory relocating the objective (%d KiB)", size >> 10);
        return DC_ERROR;
    }
    memcpy(copy, data, img->data_len);
    /* W^X from here on: executors cannot mprotect (their filter forbids it). */
    if (mprotect(mem, img->code_len, PROT_READ | PROT_EXEC) != 0 ||
        mprotect(copy, img->data_len, PROT_READ) != 0) {
        snprintf(msg, msgcap, "sandbox worker: could not protect the objective's code");
        return DC_ERROR;
    }
    img->pristine = copy;
    img->fn = fn;
    img->grad_fn = gfn;
    return DC_OK;
}

int sbx_compile(int kind, const char *src, size_t len, sbx_image *img, char *msg, size_t msgcap)
{
    memset(img, 0, sizeof *img);
    if (kind < 0 || kind > 2) {
        snprintf(msg, msgcap, "unknown objective interface %d", kind);
        return DC_ERROR;
    }
    char *filtered = malloc(len + 1);
    if (!filtered) {
        snprintf(msg, msgcap, "out of memory reading the source (%zu bytes)", len);
        return DC_ERROR;
    }
#ifdef SBX_TEST_SKIP_SOURCE_FILTER
    /* Test-only build (never installed): proves the seccomp layer alone keeps files shut. */
    memcpy(filtered, src, len);
    filtered[len] = '\0';
#else
    if (sbx_filter_source(src, len, filtered, msg, msgcap) != 0) {
        free(filtered);
        return DC_COMPILE_ERROR;
    }
#endif

    size_t hlen = strlen(sbx_header_text);
    size_t cap = hlen + len + 512;
    char *text = malloc(cap);
    if (!text) {
        free(filtered);
        snprintf(msg, msgcap, "out of memory preparing the source");
        return DC_ERROR;
    }
    snprintf(text, cap,
             "__attribute__((aligned(4096))) char __discover_data[1] = {1};\n"
             "#define DISCOVER_SANDBOX 1\n%s\n%s;\n%s;\n#line 1 \"objective.c\"\n%s",
             sbx_header_text, signatures[kind], grad_signatures[kind], filtered);
    free(filtered);

    diag d;
    memset(&d, 0, sizeof d);
    if (msgcap) msg[0] = '\0';
    d.live = msg;
    d.livecap = msgcap;
    TCCState *s = tcc_new();
    if (!s) {
        free(text);
        snprintf(msg, msgcap, "libtcc could not start (out of memory)");
        return DC_ERROR;
    }
    tcc_set_error_func(s, &d, on_tcc_message);
    tcc_set_options(s, "-nostdinc -nostdlib");
    if (tcc_set_output_type(s, TCC_OUTPUT_MEMORY) != 0) {
        free(text);
        snprintf(msg, msgcap, "libtcc could not set up in-memory output");
        return DC_ERROR;
    }
    if (tcc_compile_string(s, text) != 0) {
        free(text);
        compile_message(&d, kind, msg, msgcap);
        return DC_COMPILE_ERROR;
    }
    free(text);
    for (size_t i = 0; i < sbx_symbol_count; i++) {
        if (tcc_add_symbol(s, sbx_symbols[i].name, sbx_symbols[i].addr) != 0) {
            compile_message(&d, kind, msg, msgcap);
            return DC_COMPILE_ERROR;
        }
    }
    int rel = relocate(s, kind, &d, img, msg, msgcap);
    if (rel > 0) return rel;
    if (rel < 0) {
        if (d.n_undefined) {
            if (strcmp(d.undefined, "objective") == 0) {
                snprintf(msg, msgcap, "defines no function named objective; define exactly one: %s",
                         signatures[kind]);
                return DC_INVALID;
            }
            snprintf(msg, msgcap,
                     "calls %s, which the sandbox does not provide (no libc, no I/O, no "
                     "allocation); only these functions are available: %s",
                     d.undefined, sbx_allowed_names());
            return DC_VIOLATION;
        }
        compile_message(&d, kind, msg, msgcap);
        return DC_COMPILE_ERROR;
    }
    if (!img->fn) {
        snprintf(msg, msgcap,
                 "defines no function named objective (helpers must be static, the entry "
                 "point must not be); define exactly one: %s",
                 signatures[kind]);
        return DC_INVALID;
    }
    /* s is never deleted: freeing it is no use to a worker that lives for one candidate. */
    return DC_OK;
}
