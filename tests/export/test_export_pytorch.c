/* `discover export --format pytorch` against the sandbox, as the built binary.
 *
 * An archive holds every shipped example objective (examples/objectives/TASK/NAME.c), a
 * sample of offline-proposer genomes (hand-picked to cover every term, gate and modifier,
 * the built-in seeds, and random mutations), and for each genome its C twin: the same code
 * without the genome line, which `export` must take through the ctypes path. Every
 * candidate is exported, and the modules are run by export_pytorch_driver.py under
 * `env -i python3 -I` from an empty directory (so they import without discover). On random,
 * extreme, tie, single-row and large batches:
 *   - losses equal the sandbox's (the C objective under libtcc) to 1e-9 relative;
 *   - gradients of the sum equal the sandbox's (objective_grad where the file has a checked
 *     one, else central differences) to 1e-6: autograd for rendered genomes, the module's
 *     own differences or objective_grad through ctypes otherwise;
 *   - gradients of a weighted sum equal the row-weighted sandbox gradient when the sandbox
 *     found the objective row-separable, and the rendered genome's when there is a twin;
 *   - a rendered genome and its ctypes twin agree (losses 1e-9, gradients 1e-6).
 * A batch on which the sandbox's audit switched a rendered genome's objective_grad off
 * (central differences disagreed with it there) has its gradients left out, with a note; at
 * most 2 candidates may, and never a shipped example.
 * Also: a candidate with hostile text (quotes, CR, bytes that are not UTF-8, a bidi override)
 * imports and gives its code back byte for byte; an objective_grad that disagrees is refused
 * with a warning (as the sandbox refuses it); the C path's cache (one compile per source,
 * reused without a compiler, a clear error without one); the CLI's refusals and notes; the
 * examples in examples/pytorch/.
 *
 * Needs Debian's python3-torch (./setup.sh test installs it); fails saying so without it. */
#include "tests/archive/arc_test_util.h"
#include "tests/test.h"

#include "common/rng.h"
#include "discover/propose/evolve/evolve.h"
#include "inner_loop/task.h"
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MAX_CANDS 160
#define MAX_BATCHES 12

typedef struct {
    char name[32];
    int n, k; /* k: classes (classification) */
    double beta;
    int coarse;   /* the sandbox's step moves x = β·ρ by up to 3e-3 (β = 10, |log π| ~ 1e3) */
    double *a[6]; /* preference: chosen, rejected, ref chosen, ref rejected, lens, lens */
    double *logits;
    int *labels;
} batch;

typedef struct {
    double *loss, *grad, *wgrad; /* wgrad: module only */
    int have;
    int audit_off; /* sandbox: its audit switched a checked objective_grad off on this batch */
} result;

typedef struct {
    int64_t id;
    sbx_kind kind;
    char name[64];
    char *code;
    int genome;              /* written by the offline proposer: rendered to PyTorch */
    int twin_of;             /* index of the genome whose C twin this is, else -1 */
    int ref_of;              /* whose sandbox reference it shares (twins, hostile), else -1 */
    int separable;           /* the sandbox found it row-separable */
    int uses_grad_fn;        /* the sandbox's gradients come from its objective_grad */
    result ref[MAX_BATCHES]; /* the sandbox */
    result mod[MAX_BATCHES]; /* the exported module */
} cand;

static char *dir, *db;
static cand cands[MAX_CANDS];
static int ncands;
static batch batches[2][MAX_BATCHES]; /* [SBX_PREF], [SBX_CLS] */
static int nbatches[2];

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int grad_count(sbx_kind kind, const batch *b)
{
    return kind == SBX_PREF ? 2 * b->n : b->n * b->k;
}

/* ---- the archive ---- */

static const dc_task_ops *task_of_kind(sbx_kind kind)
{
    for (int i = 0; dc_task_at(i); i++)
        if (dc_task_at(i)->kind == kind) return dc_task_at(i);
    return NULL;
}

static int add(archive *a, int64_t camp, sbx_kind kind, const char *name, const char *code,
               int genome, int twin_of)
{
    if (ncands >= MAX_CANDS) {
        fprintf(stderr, "too many candidates\n");
        exit(2);
    }
    cand *c = &cands[ncands];
    c->kind = kind;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->code = dc_strdup(code);
    c->genome = genome;
    c->twin_of = twin_of;
    c->ref_of = twin_of;
    c->id = tu_candidate(a, camp, 1, name, code, "ok", 0.5 + 0.01 * ncands, 0.4);
    return ncands++;
}

static void add_genome(archive *a, int64_t camp, const evolve_genome *g)
{
    char name[64];
    snprintf(name, sizeof name, "genome_%d", ncands);
    char *code = evolve_render(g, name);
    CHECK(code != NULL);
    if (!code) return;
    int gi = add(a, camp, (sbx_kind)g->iface, name, code, 1, -1);
    /* the twin: the same C without its genome line, so export cannot render it */
    const char *rest = strchr(code, '\n');
    snprintf(name, sizeof name, "twin_of_%d", gi);
    add(a, camp, (sbx_kind)g->iface, name, rest ? rest + 1 : code, 0, gi);
    free(code);
}

static const char *GENOMES[] = {
    "pref norm=sum ref=1 s=1 m=0 c=0 : logistic(1)",
    "pref norm=sum ref=1 s=1 m=0 c=0 : hinge(0)",
    "pref norm=avg ref=1 s=2 m=0.1 c=0 : hinge(1)",
    "pref norm=sum ref=0 s=0.5 m=-0.2 c=0.5 : exp(1)",
    "pref norm=sum ref=1 s=1 m=0 c=0 : sq(0.5)",
    "pref norm=avg ref=0 s=1 m=0 c=0 : sigm(2)",
    "pref norm=sum ref=1 s=1 m=0 c=0 : mix(sig:0.05,logistic(1),exp(1))",
    "pref norm=sum ref=1 s=1 m=0 c=0 : mix(bvar:0.05,logistic(1.111),exp(0.9))",
    "pref norm=avg ref=1 s=1.5 m=0 c=0.3 : "
    "mix(w:0.3,mix(sig:0.1,hinge(1),sq(1)),mix(bvar:0.5,sigm(1),logistic(2)))",
    "cls T=1 : ce",
    "cls T=2 : ls(0.1)",
    "cls T=1 : sqerr",
    "cls T=0.5 : focal(2)",
    "cls T=1 : focal(0.5)",
    "cls T=1 : gce(0.7)",
    "cls T=1.5 : rce",
    "cls T=1 : mix(w:0.3,ce,mix(w:0.5,sqerr,focal(1.5)))",
    /* the literature grammar (discover/propose/evolve/GRAMMAR.md) */
    "pref norm=sum ref=1 s=1 m=0 c=0 : robust(0.1)",
    "pref norm=avg ref=1 s=1 m=0 c=0.2 : mix(bmean:0.05,bco,logistic(1))",
    "pref norm=sum ref=1 s=1 m=0 c=0 div=js : mix(w:0.5,logistic(1),bco)",
    "pref norm=sum ref=1 s=2 m=0.5 c=0 div=alpha:0.5 : hinge(1)",
    "pref norm=avg ref=1 s=1 m=0 c=0 : mix(w:0.5,aot,aotp)",
    "cls T=1 : mix(w:0.5,nce,mae)",
    "cls T=1 : mix(w:0.5,ncerce(1),ncemae(2))",
    "cls T=1 : mix(w:0.5,taylor(3),poly(1))",
    "cls T=1 M=0.5 : mix(w:0.4,sboot(0.9),hboot(0.8))",
    "cls T=0.8 M=1 : mix(w:0.5,ls(0.1),sqerr)",
    "cls T=1 : mix(w:0.5,fwd(0.4),gce(0.7))",
};

/* Text that must not break the module: a quote and a backslash in the name, a carriage
 * return, bytes that are not UTF-8, triple quotes and a bidi override in the thought and in
 * a comment of the code (DPO's); the module must import, and give the code back byte for
 * byte (export_pytorch_driver.py compares it with mNN.expected.c). */
static const char HOSTILE_TEXT[] = "it's \\ \xff\xfe ''' \"\"\" \xe2\x80\xae \r end";

static int hostile = -1; /* its index in cands */

static void add_hostile(archive *a, const dc_task_ops *t)
{
    const cand *dpo = NULL;
    for (int i = 0; i < ncands && !dpo; i++)
        if (!strcmp(cands[i].name, "dpo") && cands[i].kind == SBX_PREF) dpo = &cands[i];
    CHECK_MSG(dpo != NULL, "examples/objectives has no preference objective named dpo");
    if (!dpo || !t) return;
    dc_sb code = {0};
    dc_sb_printf(&code, "/* %s */\n%s", HOSTILE_TEXT, dpo->code);
    hostile = add(a, tu_campaign(a, "hostile", t->name), SBX_PREF, "hostile", code.data, 0, -1);
    /* the sandbox refuses source that is not UTF-8: DPO's reference is its reference */
    cands[hostile].ref_of = (int)(dpo - cands);
    dc_sb_free(&code);
}

/* The hostile name and thought, written with SQL once the archive is closed: "it's \" and
 * "line1 CR line2 FF FE, three single quotes, three double quotes, U+202E". */
static void hostile_text(void)
{
    if (hostile < 0) return;
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE candidates SET name = CAST(X'69742773205c' AS TEXT), "
             "thought = CAST(X'6c696e65310d6c696e653220fffe2727272022222220e280ae' AS TEXT) "
             "WHERE id = %lld",
             (long long)cands[hostile].id);
    CHECK(tu_sql(db, sql) == 0);
}

/* An objective_grad that disagrees with objective (DPO's with the chosen slope doubled and its
 * sign flipped): the sandbox leaves it unused, and so must the module, saying why. */
static void add_bad_grad(archive *a)
{
    const cand *dpo = NULL;
    for (int i = 0; i < ncands && !dpo; i++)
        if (!strcmp(cands[i].name, "dpo") && cands[i].kind == SBX_PREF) dpo = &cands[i];
    const char *line = dpo ? strstr(dpo->code, "d_chosen[i] = -b->beta * s;") : NULL;
    CHECK_MSG(line != NULL, "examples/objectives/.../dpo.c no longer has the line to break");
    if (!line) return;
    dc_sb code = {0};
    dc_sb_appendn(&code, dpo->code, (size_t)(line - dpo->code));
    dc_sb_append(&code, "d_chosen[i] = 2.0 * b->beta * s;");
    dc_sb_append(&code, line + strlen("d_chosen[i] = -b->beta * s;"));
    add(a, tu_campaign(a, "bad-grad", task_of_kind(SBX_PREF)->name), SBX_PREF, "bad_grad",
        code.data, 0, -1);
    dc_sb_free(&code);
}

static void build_archive(void)
{
    char err[512];
    archive *a;
    if (archive_open(db, ARC_CREATE, &a, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
    /* every shipped example objective, in a campaign of its task */
    char exdir[1024];
    snprintf(exdir, sizeof exdir, "%s/examples/objectives", DC_SOURCE_DIR);
    DIR *d = opendir(exdir);
    CHECK_MSG(d != NULL, "cannot read %s", exdir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        const dc_task_ops *t = dc_task_find(de->d_name);
        CHECK_MSG(t != NULL, "examples/objectives/%s names no task", de->d_name);
        if (!t) continue;
        // export_pytorch refuses the token-level interface (no module for it yet)
        if (t->kind != SBX_PREF && t->kind != SBX_CLS) continue;
        char camp_name[128], sub[1400];
        snprintf(camp_name, sizeof camp_name, "examples-%s", t->name);
        int64_t camp = tu_campaign(a, camp_name, t->name);
        snprintf(sub, sizeof sub, "%s/%s", exdir, de->d_name);
        DIR *e = opendir(sub);
        struct dirent *fe;
        while (e && (fe = readdir(e))) {
            size_t n = strlen(fe->d_name);
            if (n < 3 || strcmp(fe->d_name + n - 2, ".c") != 0) continue;
            char *path = tu_path(sub, fe->d_name);
            size_t len;
            char *code = tu_slurp(path, &len);
            CHECK_MSG(code != NULL, "cannot read %s", path);
            if (code) {
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(n - 2), fe->d_name);
                add(a, camp, t->kind, name, code, 0, -1);
            }
            free(code);
            free(path);
        }
        if (e) closedir(e);
    }
    if (d) closedir(d);

    /* genomes: the hand-picked list, the built-in seeds and random mutations of them */
    int64_t gcamp[2];
    for (int kind = 0; kind < 2; kind++) {
        const dc_task_ops *t = task_of_kind((sbx_kind)kind);
        CHECK_MSG(t != NULL, "no task with interface %d", kind);
        if (!t) exit(2);
        gcamp[kind] = tu_campaign(a, kind == SBX_PREF ? "genomes-pref" : "genomes-cls", t->name);
    }
    for (size_t i = 0; i < sizeof GENOMES / sizeof *GENOMES; i++) {
        evolve_genome g;
        CHECK_MSG(evolve_genome_parse(GENOMES[i], &g, err, sizeof err) == 0, "%s", err);
        add_genome(a, gcamp[g.iface], &g);
    }
    dc_rng r;
    dc_rng_seed(&r, 19);
    for (int kind = 0; kind < 2; kind++) {
        for (int i = 0; i < evolve_seed_count((sbx_kind)kind); i++) {
            evolve_proposal p;
            evolve_genome g, child;
            CHECK(evolve_seed((sbx_kind)kind, i, &p) == 0);
            CHECK(evolve_genome_from_code(p.text.code, &g, err, sizeof err) == 0);
            evolve_proposal_free(&p);
            add_genome(a, gcamp[kind], &g);
            /* a short line of descent from each seed */
            for (int step = 0, made = 0; step < 40 && made < 2; step++) {
                char change[512];
                if (evolve_mutate(&g, &r, &child, change, sizeof change)) continue;
                g = child;
                if (step % 3 == 2) {
                    add_genome(a, gcamp[kind], &g);
                    made++;
                }
            }
        }
    }
    add_hostile(a, task_of_kind(SBX_PREF));
    add_bad_grad(a);
    archive_close(a);
    hostile_text();
}

/* ---- batches ---- */

static double unif(dc_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * dc_rng_uniform(r);
}

/* log-probs of n pairs: references in [-hi, -lo], policies within ±gap of them */
static void pref_batch_make(batch *b, const char *name, int n, double beta, double lo, double hi,
                            double gap, int tie, dc_rng *r)
{
    snprintf(b->name, sizeof b->name, "%s", name);
    b->n = n;
    b->beta = beta;
    for (int j = 0; j < 6; j++)
        b->a[j] = dc_calloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) {
        b->a[2][i] = -unif(r, lo, hi);
        b->a[3][i] = tie ? b->a[2][i] : -unif(r, lo, hi);
        b->a[0][i] = b->a[2][i] + unif(r, -gap, gap);
        b->a[1][i] = tie ? b->a[0][i] : b->a[3][i] + unif(r, -gap, gap);
        b->a[4][i] = 5 + dc_rng_below(r, 96);
        b->a[5][i] = tie ? b->a[4][i] : 5 + dc_rng_below(r, 96);
    }
}

static void cls_batch_make(batch *b, const char *name, int n, int k, double scale, int uniform,
                           int tie, dc_rng *r)
{
    snprintf(b->name, sizeof b->name, "%s", name);
    b->n = n;
    b->k = k;
    b->logits = dc_calloc((size_t)n * k, sizeof(double));
    b->labels = dc_calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        double row = unif(r, -scale, scale);
        for (int j = 0; j < k; j++)
            b->logits[i * k + j] = tie       ? row
                                   : uniform ? unif(r, -scale, scale)
                                             : scale * dc_rng_normal(r);
        b->labels[i] = (int)dc_rng_below(r, (uint32_t)k);
    }
}

static void make_batches(void)
{
    dc_rng r;
    dc_rng_seed(&r, 2024);
    batch *p = batches[SBX_PREF];
    int np = 0;
    pref_batch_make(&p[np++], "random", 16, 0.1, 20, 300, 3, 0, &r);
    pref_batch_make(&p[np++], "random_b001", 24, 0.01, 20, 300, 30, 0, &r);
    pref_batch_make(&p[np++], "random_b2", 8, 2.0, 20, 300, 2, 0, &r);
    pref_batch_make(&p[np++], "extreme_lo", 16, 0.01, 0, 1000, 15, 0, &r);
    pref_batch_make(&p[np++], "extreme_hi", 16, 10.0, 0, 1000, 15, 0, &r);
    p[np - 1].coarse = 1;
    pref_batch_make(&p[np++], "tie", 8, 0.1, 20, 300, 3, 1, &r);
    pref_batch_make(&p[np++], "single", 1, 0.1, 20, 300, 3, 0, &r);
    pref_batch_make(&p[np++], "large", 300, 0.1, 20, 300, 3, 0, &r);
    nbatches[SBX_PREF] = np;
    batch *c = batches[SBX_CLS];
    int nc = 0;
    cls_batch_make(&c[nc++], "random", 16, 10, 3.0, 0, 0, &r);
    cls_batch_make(&c[nc++], "random_k3", 12, 3, 1.0, 0, 0, &r);
    cls_batch_make(&c[nc++], "extreme", 16, 10, 30.0, 1, 0, &r);
    cls_batch_make(&c[nc++], "tie", 8, 10, 3.0, 0, 1, &r);
    cls_batch_make(&c[nc++], "single", 1, 10, 3.0, 0, 0, &r);
    cls_batch_make(&c[nc++], "large", 200, 10, 3.0, 0, 0, &r);
    nbatches[SBX_CLS] = nc;
}

static void write_batches(const char *path, sbx_kind kind)
{
    dc_sb s = {0};
    for (int bi = 0; bi < nbatches[kind]; bi++) {
        const batch *b = &batches[kind][bi];
        if (kind == SBX_PREF) {
            dc_sb_printf(&s, "batch %s %d %.17g pref\n", b->name, b->n, b->beta);
            for (int j = 0; j < 6; j++) {
                for (int i = 0; i < b->n; i++)
                    dc_sb_printf(&s, "%.17g ", b->a[j][i]);
                dc_sb_append(&s, "\n");
            }
        } else {
            dc_sb_printf(&s, "batch %s %d %d cls\n", b->name, b->n, b->k);
            for (int i = 0; i < b->n * b->k; i++)
                dc_sb_printf(&s, "%.17g ", b->logits[i]);
            dc_sb_append(&s, "\n");
            for (int i = 0; i < b->n; i++)
                dc_sb_printf(&s, "%d ", b->labels[i]);
            dc_sb_append(&s, "\n");
        }
    }
    tu_write(path, s.data);
    dc_sb_free(&s);
}

/* ---- the reference: the sandbox ---- */

static int audits_off; /* candidates whose objective_grad an audit switched off */

static void sandbox_reference(cand *c)
{
    int audit_noted = 0;
    char msg[1024];
    sbx_worker *w;
    sbx_limits lim;
    sbx_limits_default(&lim);
    dc_status st = sbx_open(c->kind, c->code, strlen(c->code), &lim, &w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s: sandbox: %s", c->name, msg);
    if (st != DC_OK) return;
    st = sbx_prescreen(w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s: pre-screen: %s", c->name, msg);
    c->separable = sbx_is_separable(w);
    c->uses_grad_fn = sbx_uses_grad_fn(w);
    for (int bi = 0; st == DC_OK && bi < nbatches[c->kind]; bi++) {
        const batch *b = &batches[c->kind][bi];
        result *r = &c->ref[bi];
        r->loss = dc_calloc((size_t)b->n, sizeof(double));
        r->grad = dc_calloc((size_t)grad_count(c->kind, b), sizeof(double));
        if (c->kind == SBX_PREF) {
            pref_batch pb = {b->n, b->beta, b->a[0], b->a[1], b->a[2], b->a[3], b->a[4], b->a[5]};
            st = sbx_pref_eval(w, &pb, r->loss, r->grad, r->grad + b->n, msg, sizeof msg);
        } else {
            st = sbx_cls_eval(w, b->n, b->k, b->logits, b->labels, r->loss, r->grad, msg,
                              sizeof msg);
        }
        CHECK_MSG(st == DC_OK, "%s on %s: %s", c->name, b->name, msg);
        r->have = st == DC_OK;
        /* The sandbox audits a checked objective_grad on the first batch of every size; when
         * central differences disagree there it answers with them from then on. Both
         * gradients of such a batch are suspect (a saturated gate over a loss of ~1e4 leaves
         * central differences a few digits), so its gradients are not compared. */
        if (c->uses_grad_fn && !sbx_uses_grad_fn(w) && !audit_noted++) {
            r->audit_off = 1;
            audits_off++;
            printf("note: %s on %s: %s\n", c->name, b->name, sbx_grad_note(w));
        } else if (c->uses_grad_fn && !sbx_uses_grad_fn(w)) {
            r->audit_off = 1;
        }
        CHECK_MSG(!r->audit_off || c->genome, "%s: a shipped objective_grad was switched off on %s",
                  c->name, b->name);
    }
    sbx_close(w);
}

/* ---- the modules' results ---- */

static cand *cand_by_id(int64_t id)
{
    for (int i = 0; i < ncands; i++)
        if (cands[i].id == id) return &cands[i];
    return NULL;
}

static int batch_index(sbx_kind kind, const char *name)
{
    for (int i = 0; i < nbatches[kind]; i++)
        if (!strcmp(batches[kind][i].name, name)) return i;
    return -1;
}

static int checks_seen;

static void read_results(const char *path)
{
    size_t len;
    char *text = tu_slurp(path, &len);
    CHECK_MSG(text != NULL, "the driver wrote no results (%s)", path);
    if (!text) return;
    for (char *line = strtok(text, "\n"), *next; line; line = next) {
        next = strtok(NULL, "\n");
        if (line[0] == 'C') {
            char name[256], verdict[8];
            int off = 0;
            if (sscanf(line, "C %255s %7s %n", name, verdict, &off) >= 2) {
                checks_seen++;
                CHECK_MSG(!strcmp(verdict, "ok"), "python check %s: %s", name, line + off);
            }
            continue;
        }
        long long id;
        char bname[64], what[4];
        int off = 0;
        if (sscanf(line, "R %lld %63s %3s %n", &id, bname, what, &off) < 3) continue;
        cand *c = cand_by_id(id);
        int bi = c ? batch_index(c->kind, bname) : -1;
        if (bi < 0) continue;
        const batch *b = &batches[c->kind][bi];
        int want = what[0] == 'L' ? b->n : grad_count(c->kind, b);
        char *copy = dc_strdup(line + off); /* strtok_r: the outer loop's strtok goes on */
        double *v = dc_calloc((size_t)want, sizeof(double));
        int got = 0;
        char *sp, *tok;
        for (tok = strtok_r(copy, " ", &sp); tok; tok = strtok_r(NULL, " ", &sp)) {
            if (got < want) v[got] = strtod(tok, NULL);
            got++;
        }
        free(copy);
        CHECK_MSG(got == want, "%s on %s: %d numbers for %s, want %d", c->name, bname, got, what,
                  want);
        result *r = &c->mod[bi];
        if (what[0] == 'L')
            free(r->loss), r->loss = v;
        else if (what[0] == 'G')
            free(r->grad), r->grad = v;
        else
            free(r->wgrad), r->wgrad = v;
        r->have = r->loss && r->grad && r->wgrad;
    }
    free(text);
}

/* ---- comparison ----
 *
 * Losses: |a − b| / max(1, |b|). Gradients: the sandbox's own measure for "objective_grad
 * agrees with central differences" (sbx_grads_disagree), |a − b| / (|b| + s) with s the
 * largest |b| of the batch (at least 1e-3). When b comes from central differences and a is
 * exact (autograd), a also gets the differences' rounding error, 4ε·|L| / h, with L the
 * losses the step moved (the row's, or the batch's when not separable) and h the sandbox's
 * step: where the loss is 1e21 (an exponential at its cap) and the slope of the rest is
 * 100, differences see 0 and autograd the 100, and both are right about what they measure. */

static double rel(double a, double b)
{
    if (a == b) return 0.0;
    double e = fabs(a - b) / fmax(1.0, fabs(b));
    return isnan(e) ? INFINITY : e;
}

typedef struct tally tally;
struct tally {
    const char *what;
    int gradient;    /* 1: the gradient measure */
    int fd_rounding; /* 1: allow for the reference's central-difference rounding */
    double tol, worst;
    char where[160];
    /* where differences on a coarse batch are the reference: their truncation error
     * (h²·f'''/6 with a step of 3e-3 in x on losses that bend on the scale 0.05..1) is
     * itself around 1e-6, so those comparisons are tallied here, at 1e-5 */
    tally *coarse;
};

/* The trainable input behind gradient element j, and the weight of its row. */
static double input_of(const cand *c, const batch *b, int j)
{
    return c->kind == SBX_PREF ? b->a[j / b->n][j % b->n] : b->logits[j];
}

static int row_of(const cand *c, const batch *b, int j)
{
    return c->kind == SBX_PREF ? j % b->n : j / b->k;
}

/* refc: whose sandbox reference `want` descends from (for the rounding allowance);
 * wmax: the largest row weight of the sum that was differentiated. */
static void compare(tally *t, const cand *c, const cand *refc, const batch *b, const double *got,
                    const double *want, int n, double wmax)
{
    if (!got || !want) return;
    if (t->gradient && refc->ref[b - batches[c->kind]].audit_off) return; /* sandbox_reference */
    if (t->coarse && b->coarse && !refc->uses_grad_fn) t = t->coarse;
    double scale = 1e-3, lsum = 0.0;
    const double *ref_loss = refc->ref[b - batches[c->kind]].loss;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int i = 0; ref_loss && i < b->n; i++)
        lsum += fabs(ref_loss[i]);
    double worst = 0.0;
    int at = 0;
    for (int j = 0; j < n; j++) {
        double e;
        if (!t->gradient) {
            e = rel(got[j], want[j]);
        } else {
            double d = got[j] == want[j] ? 0.0 : fabs(got[j] - want[j]);
            if (t->fd_rounding && !refc->uses_grad_fn && ref_loss) {
                double x = input_of(c, b, j), h = 3e-7 * fmax(1.0, fabs(x));
                double l = refc->separable ? fabs(ref_loss[row_of(c, b, j)]) : lsum;
                d = fmax(0.0, d - 4.0 * DBL_EPSILON * wmax * l / h);
            }
            e = d / (fabs(want[j]) + scale);
            if (isnan(e)) e = INFINITY;
        }
        if (e > worst) worst = e, at = j;
    }
    if (worst > t->worst) {
        t->worst = worst;
        snprintf(t->where, sizeof t->where, "%s on %s [%d]", c->name, b->name, at);
    }
    CHECK_MSG(worst <= t->tol, "%s: %s on %s: element %d is %.17g, want %.17g (error %.3g)",
              t->what, c->name, b->name, at, got[at], want[at], worst);
}

#define TALLY(WHAT, GRAD, FD, TOL, COARSE)                                                         \
    {                                                                                              \
        .what = WHAT, .gradient = GRAD, .fd_rounding = FD, .tol = TOL, .coarse = COARSE            \
    }
static tally t_coarse_grad = TALLY("gradients, autograd vs differences, extreme_hi", 1, 1, 1e-5, 0);
static tally t_coarse_wgrad = TALLY("weighted gradients, same, extreme_hi", 1, 1, 1e-5, 0);
static tally t_loss_torch = TALLY("losses, rendered genome vs sandbox", 0, 0, 1e-9, 0);
static tally t_loss_c = TALLY("losses, ctypes module vs sandbox", 0, 0, 1e-9, 0);
static tally t_grad_torch = TALLY("gradients, autograd vs sandbox", 1, 1, 1e-6, &t_coarse_grad);
static tally t_grad_c = TALLY("gradients, ctypes module vs sandbox", 1, 0, 1e-6, 0);
static tally t_wgrad_torch =
    TALLY("weighted gradients, autograd vs sandbox", 1, 1, 1e-6, &t_coarse_wgrad);
static tally t_wgrad_c = TALLY("weighted gradients, ctypes vs sandbox", 1, 0, 1e-6, 0);
static tally t_twin_loss = TALLY("losses, rendered genome vs its ctypes twin", 0, 0, 1e-9, 0);
static tally t_twin_grad =
    TALLY("gradients, rendered genome vs its ctypes twin", 1, 1, 1e-6, &t_coarse_grad);
static tally t_twin_wgrad =
    TALLY("weighted gradients, rendered vs twin", 1, 1, 1e-6, &t_coarse_wgrad);

static void compare_all(void)
{
    for (int ci = 0; ci < ncands; ci++) {
        cand *c = &cands[ci];
        /* a twin's C is its genome's minus one comment line: the genome's reference */
        const cand *refc = c->ref_of >= 0 ? &cands[c->ref_of] : c;
        for (int bi = 0; bi < nbatches[c->kind]; bi++) {
            const batch *b = &batches[c->kind][bi];
            const result *ref = &refc->ref[bi], *m = &c->mod[bi];
            CHECK_MSG(m->have, "%s: no module result on %s", c->name, b->name);
            if (!m->have || !ref->have) continue;
            int g = grad_count(c->kind, b);
            compare(c->genome ? &t_loss_torch : &t_loss_c, c, refc, b, m->loss, ref->loss, b->n,
                    1.0);
            compare(c->genome ? &t_grad_torch : &t_grad_c, c, refc, b, m->grad, ref->grad, g, 1.0);
            if (refc->separable) {
                /* d(Σ w_i loss_i)/d input of row i = w_i · d loss_i / d input */
                double *want = dc_calloc((size_t)g, sizeof(double));
                for (int j = 0; j < g; j++)
                    want[j] = (0.5 + row_of(c, b, j) % 3) * ref->grad[j];
                compare(c->genome ? &t_wgrad_torch : &t_wgrad_c, c, refc, b, m->wgrad, want, g,
                        2.5);
                free(want);
            }
            if (c->twin_of >= 0) {
                /* the twin (c) against its rendered genome (exact where the twin differences) */
                const result *r = &cands[c->twin_of].mod[bi];
                if (!r->have) continue;
                compare(&t_twin_loss, c, refc, b, r->loss, m->loss, b->n, 1.0);
                compare(&t_twin_grad, c, refc, b, r->grad, m->grad, g, 1.0);
                compare(&t_twin_wgrad, c, refc, b, r->wgrad, m->wgrad, g, 2.5);
            }
        }
    }
    tally *all[] = {&t_loss_torch,  &t_loss_c,      &t_grad_torch,  &t_grad_c,
                    &t_wgrad_torch, &t_wgrad_c,     &t_twin_loss,   &t_twin_grad,
                    &t_twin_wgrad,  &t_coarse_grad, &t_coarse_wgrad};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        printf("worst %-48s %.3g (tolerance %g) at %s\n", all[i]->what, all[i]->worst, all[i]->tol,
               all[i]->where[0] ? all[i]->where : "-");
}

/* ---- the steps ---- */

static const char *CLEAN_ENV = "env -i PATH=/usr/bin:/bin LANG=C.UTF-8";

static int have_torch(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s python3 -I -c 'import torch' > /dev/null 2>&1", CLEAN_ENV);
    return sh(cmd) == 0;
}

static void export_all(const char *mods)
{
    dc_sb manifest = {0};
    for (int i = 0; i < ncands; i++) {
        cand *c = &cands[i];
        char cmd[2048], path[1024];
        snprintf(path, sizeof path, "%s/m%lld.py", mods, (long long)c->id);
        snprintf(
            cmd, sizeof cmd,
            "'%s/discover' export %lld --format pytorch -o '%s' --archive '%s' 2> '%s/err.txt'",
            DC_BUILD_DIR, (long long)c->id, path, db, dir);
        int rc = sh(cmd);
        CHECK_MSG(rc == 0, "export of %s exited %d", c->name, rc);
        size_t len;
        char *text = tu_slurp(path, &len);
        CHECK_MSG(text != NULL, "export of %s wrote no file", c->name);
        if (!text) continue;
        /* a genome becomes tensor operations (no C, no ctypes); other code goes the C path,
         * whose header says plainly that nothing sandboxes it */
        int is_c = strstr(text, "_C_SOURCE = (") != NULL;
        CHECK_MSG(is_c == !c->genome, "%s: %s", c->name,
                  c->genome ? "a genome was exported through the C path" : "C was not carried");
        if (c->genome) CHECK(strstr(text, "import ctypes") == NULL);
        if (is_c) CHECK(strstr(text, "WARNING: NO SANDBOX") != NULL);
        char *ep = tu_path(dir, "err.txt");
        char *note = tu_slurp(ep, &len);
        CHECK_MSG(
            note && strstr(note, is_c ? "with no sandbox" : "rendered from the candidate's genome"),
            "%s: export said: %s", c->name, note ? note : "");
        free(note);
        free(ep);
        CHECK(strstr(text, "\nMETA = {") != NULL && strstr(text, "\ndef loss(") == NULL);
        CHECK(strstr(text, "    def loss(") != NULL);
        free(text);
        if (i == hostile) {
            char exp[1100];
            snprintf(exp, sizeof exp, "%s/m%lld.expected.c", mods, (long long)c->id);
            tu_write(exp, c->code);
        }
        dc_sb_printf(&manifest, "%lld %s %s\n", (long long)c->id,
                     c->kind == SBX_PREF ? "pref" : "cls", path);
    }
    char *mpath = tu_path(dir, "manifest.txt");
    tu_write(mpath, manifest.data);
    free(mpath);
    dc_sb_free(&manifest);
}

static void run_driver(void)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/home' '%s/clean' && cp '%s/tests/export/export_pytorch_driver.py' "
             "'%s/driver.py' && cd '%s/clean' && %s HOME='%s/home' python3 -I '%s/driver.py' "
             "'%s/manifest.txt' '%s/pref.txt' '%s/cls.txt' '%s/results.txt' > '%s/driver.log' 2>&1",
             dir, dir, DC_SOURCE_DIR, dir, dir, CLEAN_ENV, dir, dir, dir, dir, dir, dir, dir);
    double t0 = dc_now();
    int rc = sh(cmd);
    printf("driver: %.1f s\n", dc_now() - t0);
    if (rc != 0) {
        char *log = tu_path(dir, "driver.log");
        size_t len;
        char *text = tu_slurp(log, &len);
        fprintf(stderr, "driver output:\n%s\n", text ? text : "(none)");
        free(text);
        free(log);
    }
    CHECK_MSG(rc == 0, "the driver exited %d", rc);
}

/* The C path compiles each distinct source once, reuses the object without a compiler, and
 * says what to do when there is no compiler. */
static void check_cache(void)
{
    int distinct = 0;
    for (int i = 0; i < ncands; i++) {
        if (cands[i].genome) continue;
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= !cands[j].genome && !strcmp(cands[j].code, cands[i].code);
        distinct += !dup;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "test $(ls '%s/home/.cache/discover/objectives' | grep -c '\\.so$') -eq %d", dir,
             distinct);
    CHECK_MSG(sh(cmd) == 0, "the cache should hold one shared object per distinct C source (%d)",
              distinct);
    const cand *c = NULL;
    for (int i = 0; i < ncands && !c; i++)
        if (!cands[i].genome && cands[i].kind == SBX_CLS) c = &cands[i];
    if (!c) return;
    const char *probe = "import importlib.util, sys, torch\n"
                        "s = importlib.util.spec_from_file_location('m', sys.argv[1])\n"
                        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)\n"
                        "try:\n"
                        "    print(float(m.loss(torch.zeros(2, 3), torch.tensor([0, 2])).sum()))\n"
                        "except RuntimeError as e:\n"
                        "    print('RuntimeError:', e)\n";
    char *probe_path = tu_path(dir, "probe.py");
    tu_write(probe_path, probe);
    /* cached: works with a compiler that cannot run */
    snprintf(
        cmd, sizeof cmd,
        "cd '%s/clean' && %s HOME='%s/home' CC=/nonexistent/cc python3 -I '%s' '%s/mods/m%lld.py' "
        "> '%s/probe.txt' 2>&1",
        dir, CLEAN_ENV, dir, probe_path, dir, (long long)c->id, dir);
    CHECK(sh(cmd) == 0);
    char *out_path = tu_path(dir, "probe.txt");
    size_t len;
    char *out = tu_slurp(out_path, &len);
    CHECK_MSG(out && !strstr(out, "Error"), "cached object not reused: %s", out ? out : "");
    free(out);
    /* a fresh cache and no compiler: a clear message */
    snprintf(
        cmd, sizeof cmd,
        "cd '%s/clean' && %s HOME='%s/home2' CC=/nonexistent/cc python3 -I '%s' '%s/mods/m%lld.py' "
        "> '%s/probe.txt' 2>&1",
        dir, CLEAN_ENV, dir, probe_path, dir, (long long)c->id, dir);
    CHECK(sh(cmd) == 0);
    out = tu_slurp(out_path, &len);
    CHECK_MSG(out && strstr(out, "no C compiler '/nonexistent/cc'") && strstr(out, "set CC"),
              "no-compiler message: %s", out ? out : "");
    free(out);
    free(out_path);
    free(probe_path);
}

static void check_cli_errors(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s/discover' export %lld --format onnx --archive '%s' > /dev/null 2> '%s/err.txt'",
             DC_BUILD_DIR, (long long)cands[0].id, db, dir);
    CHECK(sh(cmd) == 1);
    char *ep = tu_path(dir, "err.txt");
    size_t len;
    char *err = tu_slurp(ep, &len);
    CHECK_MSG(err && strstr(err, "--format is 'c' or 'pytorch', got 'onnx'"), "%s", err ? err : "");
    free(err);
    /* a campaign whose task this discover does not know: no signature to write */
    char e2[512];
    archive *a;
    CHECK(archive_open(db, 0, &a, e2, sizeof e2) == 0);
    int64_t camp = tu_campaign(a, "old-task", "no-such-task");
    int64_t id = tu_candidate(a, camp, 0, "orphan", cands[0].code, "ok", 0.1, 0.1);
    archive_close(a);
    snprintf(
        cmd, sizeof cmd,
        "'%s/discover' export %lld --format pytorch --archive '%s' > /dev/null 2> '%s/err.txt'",
        DC_BUILD_DIR, (long long)id, db, dir);
    CHECK(sh(cmd) == 1);
    err = tu_slurp(ep, &len);
    CHECK_MSG(err && strstr(err, "task 'no-such-task'") && strstr(err, "--format c still works"),
              "%s", err ? err : "");
    free(err);
    /* the C format is unchanged for it */
    snprintf(cmd, sizeof cmd, "'%s/discover' export %lld --archive '%s' > /dev/null 2>&1",
             DC_BUILD_DIR, (long long)id, db);
    CHECK(sh(cmd) == 0);
    free(ep);
}

/* examples/pytorch: the training loop runs with an exported classification module and a
 * preference one; the TRL example (TRL is not in Debian) compiles. */
static void check_examples(void)
{
    const cand *cls = NULL, *pref = NULL;
    for (int i = 0; i < ncands; i++) {
        if (cands[i].kind == SBX_CLS && !cls && cands[i].genome) cls = &cands[i];
        if (cands[i].kind == SBX_PREF && !pref && !cands[i].genome) pref = &cands[i];
    }
    if (!cls || !pref) return;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s/clean' && %s HOME='%s/home' python3 -I '%s/examples/pytorch/train_loop.py' "
             "'%s/mods/m%lld.py' --steps 30 > '%s/ex.txt' 2>&1 && "
             "%s HOME='%s/home' python3 -I '%s/examples/pytorch/train_loop.py' "
             "'%s/mods/m%lld.py' --steps 30 >> '%s/ex.txt' 2>&1",
             dir, CLEAN_ENV, dir, DC_SOURCE_DIR, dir, (long long)cls->id, dir, CLEAN_ENV, dir,
             DC_SOURCE_DIR, dir, (long long)pref->id, dir);
    int rc = sh(cmd);
    char *p = tu_path(dir, "ex.txt");
    size_t len;
    char *out = tu_slurp(p, &len);
    CHECK_MSG(rc == 0, "train_loop.py exited %d:\n%s", rc, out ? out : "");
    /* the loop prints "loss went from A to B" and fails itself when it did not go down */
    CHECK_MSG(out && strstr(out, "classification") && strstr(out, "preference"), "%s",
              out ? out : "");
    free(out);
    free(p);
    snprintf(cmd, sizeof cmd,
             "cd '%s/clean' && %s python3 -I -c \"import ast, sys; "
             "ast.parse(open(sys.argv[1]).read(), sys.argv[1])\" "
             "'%s/examples/pytorch/trl_dpo_trainer.py'",
             dir, CLEAN_ENV, DC_SOURCE_DIR);
    CHECK_MSG(sh(cmd) == 0, "examples/pytorch/trl_dpo_trainer.py does not parse");
}

int main(void)
{
    if (!have_torch()) {
        CHECK_MSG(0, "python3 cannot import torch: this test needs Debian's python3-torch "
                     "(sudo apt-get install python3-torch; './setup.sh test' installs it)");
        return TEST_REPORT();
    }
    const char *tmp = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/dc_export_pytorch.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(tmpl) != NULL);
    dir = dc_strdup(tmpl);
    db = tu_path(dir, "a.db");
    char *mods = tu_path(dir, "mods");
    char err[256];
    CHECK(dc_mkdirs(mods, err, sizeof err) == 0);
    build_archive();
    printf("%d candidates\n", ncands);
    make_batches();
    char *pp = tu_path(dir, "pref.txt"), *cp = tu_path(dir, "cls.txt");
    write_batches(pp, SBX_PREF);
    write_batches(cp, SBX_CLS);
    for (int i = 0; i < ncands; i++)
        if (cands[i].ref_of < 0) sandbox_reference(&cands[i]);
    export_all(mods);
    run_driver();
    char *rp = tu_path(dir, "results.txt");
    read_results(rp);
    CHECK_MSG(checks_seen > 8, "the driver reported only %d checks", checks_seen);
    CHECK_MSG(audits_off <= 2, "%d candidates had objective_grad switched off by an audit",
              audits_off);
    compare_all();
    check_cache();
    check_cli_errors();
    check_examples();
    if (getenv("DC_KEEP_TMP"))
        printf("kept %s\n", dir);
    else
        tu_rmdir(dir);
    free(rp);
    free(pp);
    free(cp);
    free(mods);
    free(db);
    free(dir);
    for (int i = 0; i < ncands; i++) {
        free(cands[i].code);
        for (int b = 0; b < MAX_BATCHES; b++) {
            free(cands[i].ref[b].loss), free(cands[i].ref[b].grad);
            free(cands[i].mod[b].loss), free(cands[i].mod[b].grad), free(cands[i].mod[b].wgrad);
        }
    }
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < nbatches[k]; b++) {
            for (int j = 0; j < 6; j++)
                free(batches[k][b].a[j]);
            free(batches[k][b].logits);
            free(batches[k][b].labels);
        }
    return TEST_REPORT();
}
