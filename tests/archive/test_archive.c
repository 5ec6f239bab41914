/* Archive API tests: record round trips (curves included), code-hash normalisation,
 * de-duplication look-ups, listings, LLM totals, schema creation, migration of a frozen
 * version-1 fixture to the current schema and under a simulated future one, campaign
 * leases (free, held by a live owner, taken from a dead one, lost), and every refusal on
 * open (missing, not SQLite, foreign SQLite, newer schema, read-only file) leaving the file
 * untouched. */
#include "arc_test_util.h"
#include "tests/test.h"

#include "archive/archive_schema.h"

#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char *dir;

static archive *open_new(const char *name)
{
    char *p = tu_path(dir, name), err[512];
    archive *a = NULL;
    int rc = archive_open(p, ARC_CREATE, &a, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    free(p);
    if (!a) exit(2);
    return a;
}

static void test_create(void)
{
    archive *a = open_new("create.db");
    char *p = dc_strdup(archive_path(a));
    archive_close(a);
    CHECK(tu_sql_int(p, "PRAGMA application_id") == ARCHIVE_APPLICATION_ID);
    CHECK(tu_sql_int(p, "PRAGMA user_version") == ARCHIVE_SCHEMA_VERSION);
    char *mode = tu_sql_text(p, "PRAGMA journal_mode");
    CHECK_STR(mode, "wal");
    free(mode);
    CHECK(tu_sql_int(p, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                        "('campaigns','candidates','evaluations','curves','llm_calls')") == 5);
    CHECK(tu_sql_int(p, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                        "tbl_name = 'curves'") >= 1);
    /* Re-opening an existing archive is a no-op migration. */
    char err[512];
    CHECK(archive_open(p, 0, &a, err, sizeof err) == 0);
    archive_close(a);
    free(p);
}

static void test_campaigns(void)
{
    archive *a = open_new("campaigns.db");
    char err[512];
    int64_t id = tu_campaign(a, "alpha", "fashion");
    CHECK(id > 0);
    arc_campaign c = {0};
    c.name = dc_strdup("alpha");
    c.task = dc_strdup("fashion");
    c.proposer = dc_strdup("llm");
    CHECK(archive_campaign_create(a, &c, err, sizeof err) == -1);
    CHECK(strstr(err, "already exists") != NULL);
    arc_campaign_free(&c);

    arc_campaign got;
    CHECK(archive_campaign_by_name(a, "alpha", &got, err, sizeof err) == 0);
    CHECK(got.id == id);
    CHECK_STR(got.task, "fashion");
    CHECK_STR(got.proposer, "evolve");
    CHECK_STR(got.config_json, "{\"steps\":10}");
    CHECK_STR(got.status, "running");
    CHECK(got.seed == 1);
    CHECK(strlen(got.created_at) == 20);
    arc_campaign_free(&got);
    CHECK(archive_campaign_by_name(a, "nope", &got, err, sizeof err) == 1);
    CHECK(archive_campaign_by_id(a, 999, &got, err, sizeof err) == 1);

    CHECK(archive_campaign_set_status(a, id, "finished", err, sizeof err) == 0);
    CHECK(archive_campaign_set_status(a, id, "exploded", err, sizeof err) == -1);
    CHECK(archive_campaign_set_status(a, 999, "finished", err, sizeof err) == -1);
    CHECK(archive_campaign_by_id(a, id, &got, err, sizeof err) == 0);
    CHECK_STR(got.status, "finished");
    arc_campaign_free(&got);

    tu_campaign(a, "beta", "sentiment");
    arc_campaign *list;
    int n;
    CHECK(archive_campaign_list(a, &list, &n, err, sizeof err) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK_STR(list[0].name, "alpha");
        CHECK_STR(list[1].name, "beta");
    }
    for (int i = 0; i < n; i++)
        arc_campaign_free(&list[i]);
    free(list);
    archive_close(a);
}

static void test_candidates(void)
{
    archive *a = open_new("candidates.db");
    char err[512];
    int64_t camp = tu_campaign(a, "c", "fashion");

    arc_llm_call call = {0};
    call.campaign_id = camp;
    call.generation = 1;
    call.request_json = dc_strdup("{\"model\":\"m\",\"api_key\":\"sk-secret\",\"messages\":[]}");
    call.response_raw = dc_strdup("{\"choices\":[]}");
    call.http_status = 200;
    call.tokens_in = 1000;
    call.tokens_out = 200;
    call.latency_s = 2.5;
    call.cost = 0.25;
    CHECK(archive_llm_call_insert(a, &call, err, sizeof err) == 0);

    int64_t parent = tu_candidate(a, camp, 0, "dpo", "void objective(){}", "ok", 0.5, 0.4);
    arc_candidate c = {0};
    c.campaign_id = camp;
    c.generation = 1;
    char parents[64];
    c.parents_json = dc_strdup(dc_fmt(parents, sizeof parents, "[%lld]", (long long)parent));
    c.name = dc_strdup("lrml");
    c.thought = dc_strdup("mix \"dpo\" and exp */ losses");
    c.code = dc_strdup("void objective(const pref_batch *b, double *loss) { /* x */ }\n");
    c.fingerprint = dc_strdup("00ff00ff00ff00ff");
    c.status = dc_strdup("ok");
    c.message = dc_strdup("");
    c.has_fitness = 1;
    c.fitness = 0.875;
    c.test_metric = NAN;
    c.metrics_json = dc_strdup("{\"fitness\":0.875}");
    c.seconds = 12.25;
    c.llm_call_id = call.id;
    for (int s = 0; s < 300; s++)
        dc_curves_add(&c.curves, "train_loss", s, 1.0 / (1 + s));
    dc_curves_add(&c.curves, "val_accuracy", 0, 0.1);
    dc_curves_add(&c.curves, "val_accuracy", 100, NAN); /* diverged point survives as NaN */
    dc_curves_add(&c.curves, "val_accuracy", 200, INFINITY);
    CHECK(archive_candidate_insert(a, &c, err, sizeof err) == 0);
    CHECK(c.id > parent);
    char expect_hash[17];
    archive_code_hash(c.code, expect_hash, sizeof expect_hash);
    CHECK_STR(c.code_hash, expect_hash);

    arc_candidate g;
    CHECK(archive_candidate_get(a, c.id, &g, err, sizeof err) == 0);
    CHECK(g.campaign_id == camp && g.generation == 1);
    CHECK_STR(g.parents_json, c.parents_json);
    CHECK_STR(g.name, "lrml");
    CHECK_STR(g.thought, c.thought);
    CHECK_STR(g.code, c.code);
    CHECK_STR(g.code_hash, expect_hash);
    CHECK_STR(g.fingerprint, "00ff00ff00ff00ff");
    CHECK_STR(g.status, "ok");
    CHECK(g.has_fitness && g.fitness == 0.875);
    CHECK(isnan(g.test_metric));
    CHECK_STR(g.metrics_json, "{\"fitness\":0.875}");
    CHECK(g.seconds == 12.25);
    CHECK(g.llm_call_id == call.id);
    CHECK(g.duplicate_of == 0);
    CHECK(g.curves.len == 2);
    const dc_curve *tl = dc_curves_find(&g.curves, "train_loss");
    const dc_curve *va = dc_curves_find(&g.curves, "val_accuracy");
    CHECK(tl && tl->len == 300);
    int same = tl != NULL;
    for (int s = 0; tl && s < 300; s++)
        same &= tl->step[s] == s && tl->value[s] == 1.0 / (1 + s);
    CHECK(same);
    CHECK(va && va->len == 3 && va->value[0] == 0.1 && isnan(va->value[1]) && isinf(va->value[2]) &&
          va->step[2] == 200);
    CHECK(strcmp(g.curves.items[0].metric, "train_loss") == 0);
    arc_candidate_free(&g);

    /* A pending candidate finishing: results and curves replaced in one go. */
    int64_t pend =
        tu_candidate(a, camp, 2, "pend", "void objective(){ return; }", "pending", NAN, NAN);
    CHECK(archive_candidate_get(a, pend, &g, err, sizeof err) == 0);
    CHECK(!g.has_fitness && isnan(g.fitness));
    free(g.status);
    g.status = dc_strdup("duplicate");
    g.duplicate_of = c.id;
    free(g.message);
    g.message = dc_strdup("same behaviour as candidate 2");
    dc_curves_add(&g.curves, "train_loss", 5, 0.5);
    CHECK(archive_candidate_finish(a, &g, err, sizeof err) == 0);
    arc_candidate_free(&g);
    CHECK(archive_candidate_get(a, pend, &g, err, sizeof err) == 0);
    CHECK_STR(g.status, "duplicate");
    CHECK(g.duplicate_of == c.id);
    CHECK(g.curves.len == 1 && g.curves.items[0].len == 1);
    /* Where and when it ran: none recorded on insert, nor by a finish without a start;
     * a finish with one writes both; a later finish without one keeps them. */
    CHECK(g.evaluator == -1 && !strcmp(g.eval_started_at, ""));
    g.evaluator = 1;
    free(g.eval_started_at);
    g.eval_started_at = dc_strdup("2026-11-23T18:20:00.250000Z");
    CHECK(archive_candidate_finish(a, &g, err, sizeof err) == 0);
    arc_candidate_free(&g);
    CHECK(archive_candidate_get(a, pend, &g, err, sizeof err) == 0);
    CHECK(g.evaluator == 1);
    CHECK_STR(g.eval_started_at, "2026-11-23T18:20:00.250000Z");
    g.evaluator = 0;
    free(g.eval_started_at);
    g.eval_started_at = dc_strdup("");
    CHECK(archive_candidate_finish(a, &g, err, sizeof err) == 0);
    arc_candidate_free(&g);
    CHECK(archive_candidate_get(a, pend, &g, err, sizeof err) == 0);
    CHECK(g.evaluator == 1);
    CHECK_STR(g.eval_started_at, "2026-11-23T18:20:00.250000Z");
    g.id = 424242;
    CHECK(archive_candidate_finish(a, &g, err, sizeof err) == -1);
    arc_candidate_free(&g);
    CHECK(archive_candidate_get(a, 424242, &g, err, sizeof err) == 1);

    /* Bad status is refused before anything is written. */
    arc_candidate bad = {0};
    bad.campaign_id = camp;
    bad.name = dc_strdup("x");
    bad.code = dc_strdup("x");
    bad.status = dc_strdup("great");
    CHECK(archive_candidate_insert(a, &bad, err, sizeof err) == -1);
    CHECK(strstr(err, "great") != NULL);
    /* A candidate of a campaign that does not exist: the foreign key refuses it. */
    free(bad.status);
    bad.status = dc_strdup("ok");
    bad.campaign_id = 777;
    CHECK(archive_candidate_insert(a, &bad, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "no such campaign") != NULL, "%s", err);
    arc_candidate_free(&bad);

    /* The LLM call: stored without the key, and totalled. */
    arc_llm_call got;
    CHECK(archive_llm_call_get(a, call.id, &got, err, sizeof err) == 0);
    CHECK(strstr(got.request_json, "sk-secret") == NULL);
    CHECK(strstr(got.request_json, "[redacted]") != NULL);
    CHECK_STR(got.response_raw, "{\"choices\":[]}");
    CHECK(got.http_status == 200 && got.tokens_in == 1000 && got.tokens_out == 200);
    CHECK(got.latency_s == 2.5 && got.cost == 0.25);
    arc_llm_call_free(&got);
    arc_llm_call second = {0};
    second.campaign_id = camp;
    second.generation = 2;
    second.request_json = dc_strdup("{\"model\":\"m\"}");
    second.tokens_in = 10;
    second.tokens_out = 5;
    second.cost = 0.5;
    second.error = dc_strdup("HTTP 429: rate limited");
    CHECK(archive_llm_call_insert(a, &second, err, sizeof err) == 0);
    arc_llm_call got2;
    CHECK(archive_llm_call_get(a, second.id, &got2, err, sizeof err) == 0);
    CHECK_STR(got2.request_json, "{\"model\":\"m\"}"); /* nothing to redact: byte for byte */
    arc_llm_call_free(&got2);
    int calls;
    long long tokens;
    double cost;
    CHECK(archive_llm_totals(a, camp, &calls, &tokens, &cost, err, sizeof err) == 0);
    CHECK(calls == 2 && tokens == 1215);
    CHECK_NEAR(cost, 0.75, 1e-12);
    CHECK(archive_llm_totals(a, 999, &calls, &tokens, &cost, err, sizeof err) == 0);
    CHECK(calls == 0 && tokens == 0 && cost == 0);
    arc_llm_call *lst;
    int nl;
    CHECK(archive_llm_call_list(a, camp, &lst, &nl, err, sizeof err) == 0);
    CHECK(nl == 2 && lst[0].id == call.id && lst[1].generation == 2);
    for (int i = 0; i < nl; i++)
        arc_llm_call_free(&lst[i]);
    free(lst);
    arc_llm_call_free(&second);
    arc_llm_call_free(&call);

    /* Evaluations with curves. */
    arc_evaluation e = {0};
    e.candidate_id = c.id;
    e.task = dc_strdup("sentiment");
    e.seed = 3;
    e.params_json = dc_strdup("{\"beta\":0.1}");
    e.status = dc_strdup("ok");
    e.fitness = 0.97;
    e.test_metric = 0.96;
    e.seconds = 4;
    dc_curves_add(&e.curves, "reward", 0, 0.5);
    dc_curves_add(&e.curves, "reward", 10, 0.9);
    dc_curves_add(&e.curves, "kl", 10, 0.3);
    CHECK(archive_evaluation_insert(a, &e, err, sizeof err) == 0);
    arc_evaluation_free(&e);
    memset(&e, 0, sizeof e);
    e.candidate_id = c.id;
    e.task = dc_strdup("sentiment");
    e.seed = 4;
    e.status = dc_strdup("nonfinite");
    e.message = dc_strdup("NaN at step 3");
    e.fitness = e.test_metric = NAN;
    CHECK(archive_evaluation_insert(a, &e, err, sizeof err) == 0);
    arc_evaluation_free(&e);
    memset(&e, 0, sizeof e);
    e.candidate_id = 9999;
    e.task = dc_strdup("sentiment");
    e.status = dc_strdup("ok");
    CHECK(archive_evaluation_insert(a, &e, err, sizeof err) == -1);
    CHECK(strstr(err, "no candidate 9999") != NULL);
    arc_evaluation_free(&e);
    arc_evaluation *ev;
    int ne;
    CHECK(archive_evaluation_list(a, c.id, &ev, &ne, err, sizeof err) == 0);
    CHECK(ne == 2);
    if (ne == 2) {
        CHECK(ev[0].seed == 3 && ev[0].fitness == 0.97 && ev[0].test_metric == 0.96);
        CHECK_STR(ev[0].params_json, "{\"beta\":0.1}");
        CHECK(ev[0].curves.len == 2 && dc_curves_find(&ev[0].curves, "reward")->len == 2);
        CHECK(isnan(ev[1].fitness));
        CHECK_STR(ev[1].message, "NaN at step 3");
        CHECK(ev[1].curves.len == 0);
    }
    for (int i = 0; i < ne; i++)
        arc_evaluation_free(&ev[i]);
    free(ev);
    arc_candidate_free(&c);
    archive_close(a);
}

static void test_code_hash(void)
{
    const char *a = "static double f(double x) { return log1p(exp(-x)); }\n"
                    "void objective(const pref_batch *b, double *loss) {\n"
                    "    for (int i = 0; i < b->n; i++) loss[i] = f(b->beta * 2.0);\n}\n";
    const char *b = "// softplus\nstatic double f(double x)\n{\n  return log1p( exp( -x ) ); /* "
                    "stable */\n}\n\nvoid objective(const pref_batch*b,double*loss){\n"
                    "\tfor(int i=0;i<b->n;i++)\n\t\tloss[i]=f(b->beta*2.0);  // done\n}";
    const char *c = "static double f(double x) { return log1p(exp(-x)); }\n"
                    "void objective(const pref_batch *b, double *loss) {\n"
                    "    for (int i = 0; i < b->n; i++) loss[i] = f(b->beta * 2.5);\n}\n";
    char ha[17], hb[17], hc[17], hd[17], he[17];
    archive_code_hash(a, ha, sizeof ha);
    archive_code_hash(b, hb, sizeof hb);
    archive_code_hash(c, hc, sizeof hc);
    CHECK(strlen(ha) == 16);
    CHECK_STR(ha, hb);
    CHECK(strcmp(ha, hc) != 0);
    /* Tokens that whitespace keeps apart stay apart. */
    archive_code_hash("return x;", hd, sizeof hd);
    archive_code_hash("returnx;", he, sizeof he);
    CHECK(strcmp(hd, he) != 0);
    archive_code_hash("y = a - -b;", hd, sizeof hd);
    archive_code_hash("y = a--b;", he, sizeof he);
    CHECK(strcmp(hd, he) != 0);
    /* Comment markers inside a string literal are content, not comments. */
    archive_code_hash("s = \"// a\";", hd, sizeof hd);
    archive_code_hash("s = \"// b\";", he, sizeof he);
    CHECK(strcmp(hd, he) != 0);
    archive_code_hash("s = \"a  b\";", hd, sizeof hd);
    archive_code_hash("s = \"a b\";", he, sizeof he);
    CHECK(strcmp(hd, he) != 0);
    /* Independent reference: the normal form of "int  x = 1 ; // c" is "int x=1;". */
    char ref[17];
    snprintf(ref, sizeof ref, "%016llx", (unsigned long long)dc_hash64("int x=1;", 8, 0));
    archive_code_hash("  int  x = 1 ; // c\n", hd, sizeof hd);
    CHECK_STR(hd, ref);

    /* Preprocessor lines: the newline ending a directive is kept, everything else about
     * layout still is not. (a) A reformatted copy with directives hashes alike: indented
     * '#', spaces after it, comments, CRLF, blank lines, a splice inside a directive. */
    const char *p1 = "#include <math.h>\n#define K 2.0\n"
                     "static double f(double x) { return K * log1p(x); }\n";
    const char *p2 = "\n  #  include   <math.h>  // maths\r\n\r\n"
                     "#define K /* scale */ 2.0\n\n"
                     "static double\nf( double x )\n{\n\treturn K*log1p( x );\n}";
    const char *p3 = "#include <math.h>\n#define K \\\n 2.0\n"
                     "static double f(double x) { return K * log1p(x); }\n";
    char h1[17], h2[17], h3[17];
    archive_code_hash(p1, h1, sizeof h1);
    archive_code_hash(p2, h2, sizeof h2);
    archive_code_hash(p3, h3, sizeof h3);
    CHECK_STR(h1, h2);
    CHECK_STR(h1, h3);
    /* (b) The same tokens with the directive's newline removed preprocess differently (T
     * would expand to "1 int x = T;"), so they must not hash alike; nor may a directive
     * continued by a splice hash like one that ends. */
    archive_code_hash("#define T 1\nint x = T;\n", hd, sizeof hd);
    archive_code_hash("#define T 1 int x = T;\n", he, sizeof he);
    CHECK(strcmp(hd, he) != 0);
    archive_code_hash("#define T 1 \\\nint x = T;\n", he, sizeof he);
    CHECK(strcmp(hd, he) != 0);
    /* The normal form, against an independent reference: one '\n' after the directive. */
    snprintf(ref, sizeof ref, "%016llx",
             (unsigned long long)dc_hash64("#define T 1\nint x=T;", 20, 0));
    CHECK_STR(hd, ref);
    /* A splice outside a directive joins tokens; a // comment continued by a splice
     * swallows the next line, so that line's code is not code. */
    archive_code_hash("int ab\\\nc = 1;", hd, sizeof hd);
    archive_code_hash("int abc = 1;", he, sizeof he);
    CHECK_STR(hd, he);
    archive_code_hash("// note \\\nint x;\nint y;", hd, sizeof hd);
    archive_code_hash("int y;", he, sizeof he);
    CHECK_STR(hd, he);
    archive_code_hash("// note\nint x;\nint y;", he, sizeof he);
    CHECK(strcmp(hd, he) != 0);
}

static void test_lookups_and_lists(void)
{
    archive *a = open_new("lookups.db");
    char err[512];
    int64_t c1 = tu_campaign(a, "one", "fashion"), c2 = tu_campaign(a, "two", "fashion");
    int gen;
    CHECK(archive_max_generation(a, c1, &gen, err, sizeof err) == 0 && gen == -1);
    const char *code = "void objective(){ int a = 1; }";
    int64_t p = tu_candidate(a, c1, 0, "pending", code, "pending", NAN, NAN);
    char h[17];
    archive_code_hash("void objective() { int a=1; } // same", h, sizeof h);
    int64_t id = -1;
    CHECK(archive_find_by_hash(a, c1, h, &id, err, sizeof err) == 1); /* pending: not final */
    int64_t first = tu_candidate(a, c1, 1, "first", code, "compile_error", NAN, NAN);
    tu_candidate(a, c1, 3, "second", code, "ok", 0.3, 0.2);
    CHECK(archive_find_by_hash(a, c1, h, &id, err, sizeof err) == 0 && id == first);
    CHECK(archive_find_by_hash(a, c2, h, &id, err, sizeof err) == 1);
    CHECK(archive_find_by_hash(a, c1, "0000000000000000", &id, err, sizeof err) == 1);
    CHECK(archive_max_generation(a, c1, &gen, err, sizeof err) == 0 && gen == 3);
    (void)p;

    /* Fingerprints: "" never matches, duplicates are skipped, first final one wins. */
    arc_candidate d;
    int64_t dup = tu_candidate(a, c1, 4, "dup", "void objective(){2;}", "duplicate", NAN, NAN);
    CHECK(archive_candidate_get(a, dup, &d, err, sizeof err) == 0);
    free(d.fingerprint);
    d.fingerprint = dc_strdup("abcdabcdabcdabcd");
    CHECK(archive_candidate_finish(a, &d, err, sizeof err) == 0);
    arc_candidate_free(&d);
    CHECK(archive_find_by_fingerprint(a, c1, "abcdabcdabcdabcd", &id, err, sizeof err) == 1);
    int64_t fp = tu_candidate(a, c1, 4, "fp", "void objective(){3;}", "ok", 0.9, 0.8);
    CHECK(archive_candidate_get(a, fp, &d, err, sizeof err) == 0);
    free(d.fingerprint);
    d.fingerprint = dc_strdup("abcdabcdabcdabcd");
    CHECK(archive_candidate_finish(a, &d, err, sizeof err) == 0);
    arc_candidate_free(&d);
    CHECK(archive_find_by_fingerprint(a, c1, "abcdabcdabcdabcd", &id, err, sizeof err) == 0 &&
          id == fp);
    CHECK(archive_find_by_fingerprint(a, c1, "", &id, err, sizeof err) == 1);

    /* top_k: best fitness first, ties by id, unscored left out; filters combine. */
    int64_t t1 = tu_candidate(a, c2, 1, "t1", "a", "ok", 0.70, 0.1);
    int64_t t2 = tu_candidate(a, c2, 1, "t2", "b", "ok", 0.90, 0.1);
    int64_t t3 = tu_candidate(a, c2, 1, "t3", "c", "ok", 0.70, 0.1);
    tu_candidate(a, c2, 1, "t4", "d", "crash", NAN, NAN);
    int64_t t5 = tu_candidate(a, c2, 1, "t5", "e", "ok", -1.0, 0.1);
    arc_candidate *l;
    int n;
    arc_filter f = {.campaign_id = c2, .top_k = 3};
    CHECK(archive_candidate_list(a, &f, &l, &n, err, sizeof err) == 0);
    CHECK(n == 3 && l[0].id == t2 && l[1].id == t1 && l[2].id == t3);
    CHECK(n == 3 && l[0].code == NULL && l[0].thought == NULL);
    for (int i = 0; i < n; i++)
        arc_candidate_free(&l[i]);
    free(l);
    f.top_k = 100;
    CHECK(archive_candidate_list(a, &f, &l, &n, err, sizeof err) == 0);
    CHECK(n == 4 && l[3].id == t5);
    for (int i = 0; i < n; i++)
        arc_candidate_free(&l[i]);
    free(l);
    arc_filter all = {.campaign_id = 0, .status = NULL, .top_k = 0, .with_code = 1};
    CHECK(archive_candidate_list(a, &all, &l, &n, err, sizeof err) == 0);
    CHECK(n == 10);
    int ordered = 1;
    for (int i = 1; i < n; i++)
        ordered &= l[i].id > l[i - 1].id;
    CHECK(ordered);
    CHECK(n > 0 && l[0].code && strcmp(l[0].code, code) == 0);
    for (int i = 0; i < n; i++)
        arc_candidate_free(&l[i]);
    free(l);
    arc_filter st = {.campaign_id = c2, .status = "crash"};
    CHECK(archive_candidate_list(a, &st, &l, &n, err, sizeof err) == 0);
    CHECK(n == 1 && strcmp(l[0].name, "t4") == 0);
    for (int i = 0; i < n; i++)
        arc_candidate_free(&l[i]);
    free(l);

    arc_campaign_stats s;
    CHECK(archive_campaign_summary(a, c2, &s, err, sizeof err) == 0);
    CHECK(s.candidates == 5 && s.scored == 4 && s.best_fitness == 0.9 && s.max_generation == 1);
    CHECK(archive_campaign_summary(a, 999, &s, err, sizeof err) == 0);
    CHECK(s.candidates == 0 && isnan(s.best_fitness) && s.max_generation == -1);
    archive_close(a);
}

/* ---- refusals on open: each leaves the file byte for byte as it was ---- */

static void check_unchanged(const char *path, const char *before, size_t len)
{
    size_t len2;
    char *after = tu_slurp(path, &len2);
    CHECK(after && len2 == len && memcmp(after, before, len) == 0);
    free(after);
}

static void test_refusals(void)
{
    char err[1024];
    archive *a = NULL;
    char *missing = tu_path(dir, "missing.db");
    CHECK(archive_open(missing, ARC_READONLY, &a, err, sizeof err) == -1 && !a);
    CHECK(strstr(err, "no archive at") && strstr(err, "discover run"));
    CHECK(archive_open(missing, 0, &a, err, sizeof err) == -1);
    CHECK(archive_open(missing, ARC_READONLY | ARC_CREATE, &a, err, sizeof err) == -1);
    CHECK(!tu_exists(missing));
    free(missing);

    char *text = tu_path(dir, "notes.txt");
    tu_write(text, "these are my notes, not a database\n");
    CHECK(archive_open(text, 0, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "not an SQLite database") != NULL);
    CHECK(archive_open(text, ARC_READONLY, &a, err, sizeof err) == -1);
    check_unchanged(text, "these are my notes, not a database\n", 35);
    free(text);

    char *empty = tu_path(dir, "empty.db");
    tu_write(empty, "");
    CHECK(archive_open(empty, ARC_READONLY, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "not a discover archive") != NULL);

    char *foreign = tu_path(dir, "foreign.db");
    CHECK(tu_sql(foreign,
                 "CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');") == 0);
    size_t flen;
    char *fbytes = tu_slurp(foreign, &flen);
    CHECK(archive_open(foreign, ARC_CREATE, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "without discover's tables") != NULL);
    CHECK(archive_open(foreign, ARC_READONLY, &a, err, sizeof err) == -1);
    check_unchanged(foreign, fbytes, flen);
    CHECK(tu_sql_int(foreign, "SELECT count(*) FROM sqlite_master WHERE name = 'candidates'") == 0);
    free(fbytes);
    free(foreign);

    /* An archive from a newer discover. */
    archive *n = open_new("newer.db");
    char *newer = dc_strdup(archive_path(n));
    tu_campaign(n, "future", "fashion");
    archive_close(n);
    CHECK(tu_sql(newer, "PRAGMA user_version = 7;") == 0);
    size_t nlen;
    char *nbytes = tu_slurp(newer, &nlen);
    CHECK(archive_open(newer, 0, &a, err, sizeof err) == -1);
    char want[128];
    dc_fmt(want, sizeof want, "was written by a newer discover (schema 7 > %d); upgrade discover",
           ARCHIVE_SCHEMA_VERSION);
    CHECK_MSG(strstr(err, want) != NULL, "%s", err);
    CHECK(archive_open(newer, ARC_READONLY, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "newer discover") != NULL);
    check_unchanged(newer, nbytes, nlen);
    CHECK(tu_sql_int(newer, "PRAGMA user_version") == 7);
    free(nbytes);
    free(newer);

    /* A read-only handle refuses writes with a message, and writes nothing. */
    archive *w = open_new("ro.db");
    int64_t camp = tu_campaign(w, "c", "fashion");
    archive_close(w);
    char *ro = tu_path(dir, "ro.db");
    CHECK(archive_open(ro, ARC_READONLY, &a, err, sizeof err) == 0);
    if (a) {
        arc_llm_call call = {.campaign_id = camp};
        CHECK(archive_llm_call_insert(a, &call, err, sizeof err) == -1);
        CHECK(strstr(err, "read-only") != NULL);
        CHECK(archive_campaign_set_status(a, camp, "failed", err, sizeof err) == -1);
        archive_close(a);
        a = NULL;
    }
    CHECK(tu_sql_int(ro, "SELECT count(*) FROM llm_calls") == 0);
    free(ro);
    free(empty);
}

/* A read-only archive file: run as an unprivileged user (root ignores file modes), reading
 * works and writing fails with a message that says so. */
static void test_readonly_file(void)
{
    archive *w = open_new("rofile.db");
    char *p = dc_strdup(archive_path(w));
    tu_campaign(w, "c", "fashion");
    archive_close(w);
    chmod(dir, 0755);
    chmod(p, 0444);
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        char err[1024], res[8] = "00";
        if (access(p, R_OK) != 0) { /* $TMPDIR not reachable for the unprivileged user */
            if (write(fds[1], "SS", 2) != 2) _exit(4);
            _exit(0);
        }
        archive *a = NULL;
        if (archive_open(p, 0, &a, err, sizeof err) == -1 && strstr(err, "read-only")) res[0] = '1';
        if (archive_open(p, ARC_READONLY, &a, err, sizeof err) != 0) {
            fprintf(stderr, "read-only reader: %s\n", err);
        } else {
            arc_campaign *cs;
            int n = 0;
            if (archive_campaign_list(a, &cs, &n, err, sizeof err) == 0 && n == 1)
                res[1] = '1';
            else
                fprintf(stderr, "read-only reader: %s\n", err);
            for (int i = 0; i < n; i++)
                arc_campaign_free(&cs[i]);
            free(n ? cs : NULL);
            archive_close(a);
        }
        if (write(fds[1], res, 2) != 2) _exit(4);
        _exit(0);
    }
    close(fds[1]);
    char res[3] = {0};
    CHECK(read(fds[0], res, 2) == 2);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (strcmp(res, "SS") == 0)
        fprintf(stderr, "note: read-only file test skipped ($TMPDIR not reachable as nobody)\n");
    else
        CHECK_MSG(strcmp(res, "11") == 0, "read-only archive: writer refused=%c, reader ok=%c",
                  res[0], res[1]);
    chmod(p, 0644);
    free(p);
}

/* ---- migrations ---- */

static char *fixture_sql(void)
{
    size_t len;
    char *sql = tu_slurp(DC_SOURCE_DIR "/tests/archive/fixtures/schema_v1.sql", &len);
    CHECK(sql != NULL);
    return sql;
}

static char *make_v1(const char *name)
{
    char *p = tu_path(dir, name), *sql = fixture_sql();
    CHECK(sql && tu_sql(p, sql) == 0);
    free(sql);
    return p;
}

/* Sorted DDL of a database, to compare schemas created by different routes. */
static char *schema_of(const char *path)
{
    return tu_sql_text(path, "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master "
                             "WHERE sql IS NOT NULL ORDER BY name)");
}

static void test_migrations(void)
{
    char err[1024];
    /* The frozen fixture IS the version-1 schema: same DDL as the first step creates. */
    char *v1 = make_v1("v1.db");
    char *fresh_path = tu_path(dir, "fresh_v1.db");
    archive *fresh;
    CHECK(archive_open_with(fresh_path, ARC_CREATE, arc_migrations, 1, 1, &fresh, err,
                            sizeof err) == 0);
    archive_close(fresh);
    char *s1 = schema_of(v1), *s2 = schema_of(fresh_path);
    CHECK(strlen(s1) > 100);
    CHECK_STR(s1, s2);
    free(s1);
    free(s2);
    free(fresh_path);

    /* Today's discover upgrades a version-1 archive in place to version 2: every row kept,
     * the lease table added, old LLM calls with response_bytes 0. The file is a copy: the
     * fixture's own copy v1 serves the simulated future below. */
    char *up = make_v1("v1_upgrade.db");
    long long cands = tu_sql_int(up, "SELECT count(*) FROM candidates");
    long long calls = tu_sql_int(up, "SELECT count(*) FROM llm_calls");
    CHECK(cands > 0 && calls > 0);
    archive *u;
    CHECK(archive_open(up, 0, &u, err, sizeof err) == 0);
    archive_close(u);
    CHECK(tu_sql_int(up, "PRAGMA user_version") == ARCHIVE_SCHEMA_VERSION);
    CHECK(tu_sql_int(up, "SELECT count(*) FROM candidates") == cands);
    CHECK(tu_sql_int(up, "SELECT count(*) FROM llm_calls WHERE response_bytes = 0") == calls);
    CHECK(tu_sql_int(up, "SELECT count(*) FROM campaign_leases") == 0);
    /* ... with the same schema as an archive created new. */
    archive *nw = open_new("fresh_now.db");
    char *now_path = dc_strdup(archive_path(nw));
    archive_close(nw);
    s1 = schema_of(up);
    s2 = schema_of(now_path);
    CHECK_STR(s1, s2);
    free(s1);
    free(s2);
    free(now_path);

    /* The current code reads the upgraded fixture's rows. */
    archive *a;
    CHECK(archive_open(up, ARC_READONLY, &a, err, sizeof err) == 0);
    arc_candidate c;
    CHECK(archive_candidate_get(a, 1, &c, err, sizeof err) == 0);
    CHECK_STR(c.name, "cross_entropy");
    CHECK(c.fitness == 0.8125 && c.curves.len == 2);
    arc_candidate_free(&c);
    archive_close(a);
    free(up);

    /* A future discover (one more step adds a column with a backfill) opens the v1
     * archive: every step from 1 runs. */
    const int cur = ARCHIVE_SCHEMA_VERSION, next = ARCHIVE_SCHEMA_VERSION + 1;
    const arc_migration next_step = {
        cur, "add candidates.tags (test-only step simulating a future release)",
        "ALTER TABLE candidates ADD COLUMN tags TEXT NOT NULL DEFAULT '';"
        "UPDATE candidates SET tags = 'baseline' WHERE generation = 0;"};
    arc_migration future[16];
    int nf = 0;
    for (int i = 0; i < arc_migration_count && nf < 15; i++)
        future[nf++] = arc_migrations[i];
    future[nf++] = next_step;

    /* Readers never migrate: refused with a message, file unchanged. */
    CHECK(archive_open_with(v1, ARC_READONLY, future, nf, next, &a, err, sizeof err) == -1);
    char want[64];
    CHECK(strstr(err, dc_fmt(want, sizeof want, "older schema (1 < %d)", next)) != NULL);
    CHECK(tu_sql_int(v1, "PRAGMA user_version") == 1);

    CHECK(archive_open_with(v1, 0, future, nf, next, &a, err, sizeof err) == 0);
    if (a) {
        CHECK(archive_candidate_get(a, 2, &c, err, sizeof err) == 0);
        CHECK_STR(c.status, "compile_error");
        CHECK(!c.has_fitness && c.llm_call_id == 1);
        arc_candidate_free(&c);
        int64_t id = tu_candidate(a, 1, 2, "new", "void objective(){}", "ok", 0.9, 0.85);
        CHECK(id == 3);
        archive_close(a);
    }
    CHECK(tu_sql_int(v1, "PRAGMA user_version") == next);
    CHECK(tu_sql_int(v1, "SELECT count(*) FROM candidates WHERE tags = 'baseline'") == 1);
    CHECK(tu_sql_int(v1, "SELECT count(*) FROM candidates") == 3);
    /* ... and today's discover now refuses it as newer. */
    CHECK(archive_open(v1, 0, &a, err, sizeof err) == -1);
    CHECK(strstr(err, dc_fmt(want, sizeof want, "schema %d > %d", next, cur)) != NULL);
    free(v1);

    /* A failing step rolls back completely: version, schema and rows as before (the steps
     * before it committed, each in its own transaction). */
    char *v1b = make_v1("v1_broken_step.db");
    CHECK(archive_open(v1b, 0, &a, err, sizeof err) == 0);
    archive_close(a);
    char *before = schema_of(v1b);
    const arc_migration broken = {cur, "a step that fails half way",
                                  "ALTER TABLE candidates ADD COLUMN tags TEXT;"
                                  "UPDATE no_such_table SET x = 1;"};
    future[nf - 1] = broken;
    CHECK(archive_open_with(v1b, 0, future, nf, next, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "cannot upgrade") &&
          strstr(err, dc_fmt(want, sizeof want, "from schema %d to %d", cur, next)));
    CHECK(tu_sql_int(v1b, "PRAGMA user_version") == cur);
    char *after = schema_of(v1b);
    CHECK_STR(before, after);
    free(before);
    free(after);
    /* A gap in the history (no step from the current version) is reported, not skipped. */
    CHECK(archive_open_with(v1b, 0, arc_migrations, arc_migration_count, next, &a, err,
                            sizeof err) == -1);
    CHECK(strstr(err, "no upgrade step") != NULL);
    CHECK(tu_sql_int(v1b, "PRAGMA user_version") == cur);
    free(v1b);
}

/* ---- campaign leases ---- */

/* Sets the lease row of campaign 1 to another owner (raw SQL, as another process would). */
static void forge_lease(const char *path, long long pid, const char *host, const char *heartbeat)
{
    char sql[512];
    dc_fmt(sql, sizeof sql,
           "INSERT OR REPLACE INTO campaign_leases (campaign_id, pid, host, started_at, "
           "heartbeat_at) VALUES (1, %lld, '%s', %s, %s)",
           pid, host, heartbeat, heartbeat);
    CHECK(tu_sql(path, sql) == 0);
}

static void test_leases(void)
{
    archive *a = open_new("lease.db");
    char *p = dc_strdup(archive_path(a)), err[512], why[256], host[256];
    int64_t camp = tu_campaign(a, "c", "fashion");
    CHECK(camp == 1);
    CHECK(gethostname(host, sizeof host) == 0);
    arc_lease prev, now;
    int took = -1;
    /* Free: taken, nobody displaced; the row names this process. */
    CHECK(archive_lease_acquire(a, camp, &prev, &took, why, sizeof why, err, sizeof err) == 0);
    CHECK(took == 0 && prev.pid == 0);
    CHECK(archive_lease_get(a, camp, &now, err, sizeof err) == 0);
    CHECK(now.pid == getpid() && !strcmp(now.host, host) && now.age_s < 5);
    /* Already ours: taken again (a process re-opening its own campaign). */
    CHECK(archive_lease_acquire(a, camp, &prev, &took, why, sizeof why, err, sizeof err) == 0);
    CHECK(took == 0);
    CHECK(archive_lease_heartbeat(a, camp, NULL, err, sizeof err) == 0);

    /* A live process on this host (our parent) holds it: refused, named, nothing written. */
    char hb_now[] = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";
    char hb_old[] = "'2000-01-01T00:00:00Z'";
    char q[300];
    dc_fmt(q, sizeof q, "'%s'", host);
    forge_lease(p, (long long)getppid(), host, hb_now);
    CHECK(archive_lease_acquire(a, camp, &prev, &took, why, sizeof why, err, sizeof err) == 1);
    CHECK(prev.pid == getppid() && !strcmp(prev.host, host) && prev.age_s < 5);
    CHECK(tu_sql_int(p, "SELECT pid FROM campaign_leases") == getppid());
    /* ... and this process's heartbeat says the lease is someone else's now. */
    CHECK(archive_lease_heartbeat(a, camp, &now, err, sizeof err) == 1);
    CHECK(now.pid == getppid());
    /* ... and release leaves that other owner's lease alone. */
    CHECK(archive_lease_release(a, camp, err, sizeof err) == 0);
    CHECK(tu_sql_int(p, "SELECT count(*) FROM campaign_leases") == 1);

    /* A dead process on this host: taken over, with the reason. */
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    forge_lease(p, (long long)child, host, hb_now);
    CHECK(archive_lease_acquire(a, camp, &prev, &took, why, sizeof why, err, sizeof err) == 0);
    CHECK(took == 1 && prev.pid == child);
    CHECK_MSG(strstr(why, "no longer exists") != NULL, "%s", why);
    CHECK(tu_sql_int(p, "SELECT pid FROM campaign_leases") == getpid());

    /* Another host, fresh heartbeat: its pid cannot be checked from here, so it is live. */
    forge_lease(p, 4242, "other-host.example", hb_now);
    CHECK(archive_lease_acquire(a, camp, &prev, &took, why, sizeof why, err, sizeof err) == 1);
    CHECK(prev.pid == 4242 && !strcmp(prev.host, "other-host.example"));
    /* Another host, no heartbeat for longer than ARCHIVE_LEASE_STALE_S: taken over. */
    forge_lease(p, 4242, "other-host.example", hb_old);
    CHECK(archive_lease_acquire(a, camp, &prev, &took, why, sizeof why, err, sizeof err) == 0);
    CHECK(took == 1 && prev.age_s > ARCHIVE_LEASE_STALE_S);
    CHECK_MSG(strstr(why, "no heartbeat") && strstr(why, "other-host.example"), "%s", why);

    /* Released: free again. */
    CHECK(archive_lease_release(a, camp, err, sizeof err) == 0);
    CHECK(archive_lease_get(a, camp, &now, err, sizeof err) == 1);
    /* A campaign that does not exist has no lease to take. */
    CHECK(archive_lease_acquire(a, 99, &prev, &took, why, sizeof why, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "no campaign 99") != NULL, "%s", err);
    archive_close(a);
    free(p);
}

int main(void)
{
    dir = tu_tmpdir();
    test_create();
    test_campaigns();
    test_candidates();
    test_code_hash();
    test_lookups_and_lists();
    test_refusals();
    test_readonly_file();
    test_migrations();
    test_leases();
    tu_rmdir(dir);
    free(dir);
    return TEST_REPORT();
}
