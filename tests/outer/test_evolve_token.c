/* test_evolve_token — evolve's token-level grammar (evolve_token.h): gene round trips and
 * range errors, the seeds' losses and per-token gradients computed in the sandbox against
 * hand-computed values, and many draws over several seeds that all compile with the system
 * C compiler (-Wall -Wextra -Werror), pass the sandbox's pre-screen, are deterministic, and
 * actually use the token genes. */
#define _GNU_SOURCE
#include "discover/propose/evolve/evolve_token.h"
#include "sandbox/sandbox.h"
#include "tests/test.h"
#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NSEEDS 4
#define DRAWS 15

static void test_genes(void)
{
    evolve_token_genes t, back;
    char buf[256], err[256];
    evolve_token_genes_off(&t);
    t.sim_lo = 0.3, t.lr_k = 0.25, t.pos = -0.4;
    CHECK(evolve_token_genes_format(&t, buf, sizeof buf) == 0);
    CHECK_MSG(evolve_token_genes_parse(buf, &back, err, sizeof err) == 0, "%s", err);
    CHECK(memcmp(&t, &back, sizeof t) == 0);
    CHECK(evolve_token_genes_parse("sim=0.5,0.05,0,1.5 lr=0,1 pos=0", &back, err, sizeof err) ==
          -1); /* LO = 0 would let a response's weights sum to zero */
    CHECK(strstr(err, "out of range") != NULL);
    CHECK(evolve_token_genes_parse("sim=0.5 lr=0,1 pos=0", &back, err, sizeof err) == -1);
    CHECK(evolve_token_genes_parse("sim=0.5,0.05,1,1 lr=0,1 pos=0 x", &back, err, sizeof err) ==
          -1);

    /* a preference genome without a token line reads as every gene off */
    evolve_token_genome g;
    evolve_genome_leaf(&g.seq, SBX_PREF, EV_HINGE, 1.0);
    char *code = evolve_render(&g.seq, "plain");
    CHECK(evolve_token_from_code(code, &g, err, sizeof err) == 0);
    evolve_token_genes_off(&t);
    CHECK(memcmp(&g.tok, &t, sizeof t) == 0);
    free(code);
    CHECK(evolve_token_from_code("void objective(void) {}", &g, err, sizeof err) == -1);
}

/* Two pairs: chosen responses of 3 and 1 tokens, rejected of 2 and 4; sims 0 or 1. */
static double LP_C[4] = {-1.0, -2.0, -0.5, -1.5}, REF_C[4] = {-1.2, -2.1, -0.9, -1.0};
static double LP_R[6] = {-1.0, -0.7, -2.0, -1.1, -0.4, -3.0};
static double REF_R[6] = {-0.8, -0.9, -1.6, -1.0, -0.5, -2.5};
static int OFF_C[2] = {0, 3}, LEN_C[2] = {3, 1}, OFF_R[2] = {0, 2}, LEN_R[2] = {2, 4};

static token_pref_batch batch(const double *sim_c, const double *sim_r)
{
    return (token_pref_batch){2,    0.5,  OFF_C, OFF_R, LEN_C, LEN_R,
                              LP_C, LP_R, REF_C, REF_R, sim_c, sim_r};
}

static double logistic(double x)
{
    return x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
}

/* DPO on weighted sums, for the seeds whose weights are constant per token. */
static double dpo_pair(const token_pref_batch *b, int i, double wc, double wr)
{
    double rho = 0;
    for (int t = 0; t < b->chosen_len[i]; t++) {
        int j = b->chosen_off[i] + t;
        rho += wc * (b->chosen_logps[j] - b->ref_chosen_logps[j]);
    }
    for (int t = 0; t < b->rejected_len[i]; t++) {
        int j = b->rejected_off[i] + t;
        rho -= wr * (b->rejected_logps[j] - b->ref_rejected_logps[j]);
    }
    return logistic(b->beta * rho);
}

static sbx_worker *open_seed(int i)
{
    evolve_proposal p;
    char msg[512];
    sbx_worker *w = NULL;
    CHECK(evolve_token_seed(i, &p) == 0);
    dc_status st =
        sbx_open(SBX_TOKEN_PREF, p.text.code, strlen(p.text.code), NULL, &w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "seed %d: %s", i, msg);
    evolve_proposal_free(&p);
    return st == DC_OK ? w : NULL;
}

static void test_seed_values(void)
{
    double zc[4] = {0}, zr[6] = {0}, oc[4] = {1, 1, 1, 1}, orr[6] = {1, 1, 1, 1, 1, 1};
    double loss[2], dc[4], dr[6];
    char msg[512];
    CHECK(evolve_token_seed_count() >= 4);
    CHECK(evolve_token_seed(evolve_token_seed_count(), &(evolve_proposal){0}) == -1);

    /* seed 0 is DPO per token: every token's gradient is the pair's -β·σ(-x) */
    sbx_worker *w = open_seed(0);
    token_pref_batch b = batch(zc, zr);
    if (w) {
        CHECK(sbx_token_eval(w, &b, 4, 6, loss, dc, dr, msg, sizeof msg) == DC_OK);
        for (int i = 0; i < 2; i++)
            CHECK_NEAR(loss[i], dpo_pair(&b, i, 1, 1), 1e-12);
        double x0 = -log(expm1(loss[0])); /* σ(-x) from the loss */
        CHECK_NEAR(dc[1], -0.5 / (1 + exp(x0)), 1e-6);
        CHECK_NEAR(dr[0], 0.5 / (1 + exp(x0)), 1e-6);
        sbx_close(w);
    }
    /* seed 1 (similarity gate at 0.5, weights 0.5 / 1.5): key tokens count 1.5, ambiguous 0.5,
     * and the per-token gradient carries the weight */
    w = open_seed(1);
    if (w) {
        double dc1[4], dr1[6];
        b = batch(zc, zr);
        CHECK(sbx_token_eval(w, &b, 4, 6, loss, dc, dr, msg, sizeof msg) == DC_OK);
        for (int i = 0; i < 2; i++)
            CHECK_NEAR(loss[i], dpo_pair(&b, i, 1.5, 1.5), 1e-3);
        b = batch(oc, orr);
        CHECK(sbx_token_eval(w, &b, 4, 6, loss, dc1, dr1, msg, sizeof msg) == DC_OK);
        for (int i = 0; i < 2; i++)
            CHECK_NEAR(loss[i], dpo_pair(&b, i, 0.5, 0.5), 1e-3);
        /* same pair, key chosen tokens, ambiguous rejected ones: the chosen token's gradient
         * is three times the rejected's in size */
        b = batch(zc, orr);
        CHECK(sbx_token_eval(w, &b, 4, 6, loss, dc, dr, msg, sizeof msg) == DC_OK);
        CHECK_NEAR(dc[0] / -dr[0], 3.0, 1e-2);
        sbx_close(w);
    }
    /* seed 3 (position ramp 0.5): the chosen 3-token response's weights are 2/3, 1, 4/3 */
    w = open_seed(3);
    if (w) {
        b = batch(zc, zr);
        CHECK(sbx_token_eval(w, &b, 4, 6, loss, dc, dr, msg, sizeof msg) == DC_OK);
        CHECK_NEAR(dc[2] / dc[0], 2.0, 1e-4);
        CHECK_NEAR(dc[1] / dc[0], 1.5, 1e-4);
        sbx_close(w);
    }
}

static double fake_fitness(const char *code)
{
    double f = 0.5 + 0.3 * (double)(dc_hash64(code, strlen(code), 7) % 1000) / 1000.0;
    if (strstr(code, "position ramp */")) f += 0.1;
    return f;
}

static void test_draws(void)
{
    char dir[] = "/tmp/dc_test_evolve_token_XXXXXX", path[512], err[256], cmd[1024];
    CHECK(mkdtemp(dir) != NULL);
    int bad = 0, total = 0, sim = 0, lr = 0, pos = 0, children = 0;
    for (int s = 0; s < NSEEDS; s++) {
        evolve_parent pool[DRAWS];
        evolve_proposal props[DRAWS];
        dc_rng r, r2;
        dc_rng_seed(&r, 500 + (uint64_t)s);
        dc_rng_seed(&r2, 500 + (uint64_t)s);
        for (int i = 0; i < DRAWS; i++) {
            CHECK_MSG(evolve_propose(SBX_TOKEN_PREF, pool, i, &r, &props[i], err, sizeof err) == 0,
                      "%s", err);
            evolve_proposal again;
            CHECK(evolve_propose(SBX_TOKEN_PREF, pool, i, &r2, &again, err, sizeof err) == 0);
            CHECK_STR(again.text.code, props[i].text.code); /* deterministic */
            evolve_proposal_free(&again);
            const char *code = props[i].text.code;
            int fails = i % 7 == 6;
            pool[i] = (evolve_parent){i + 1,  props[i].text.name,
                                      code,   fails ? "crash" : "ok",
                                      !fails, fails ? 0 : fake_fitness(code)};
            children += props[i].nparents > 0;
            sim += strstr(code, "ambiguous tokens down") != NULL;
            lr += strstr(code, "not yet learned") != NULL;
            pos += strstr(code, "position ramp */") != NULL;

            evolve_token_genome g;
            CHECK_MSG(evolve_token_from_code(code, &g, err, sizeof err) == 0, "%s", err);
            char msg[512] = "";
            sbx_worker *w = NULL;
            dc_status st = sbx_open(SBX_TOKEN_PREF, code, strlen(code), NULL, &w, msg, sizeof msg);
            if (st == DC_OK) st = sbx_prescreen(w, msg, sizeof msg);
            if (st != DC_OK && bad++ < 3)
                fprintf(stderr, "%s rejected (%s): %s\n%s\n", props[i].text.name,
                        dc_status_name(st), msg, code);
            sbx_close(w);
            total++;

            char wrap[1024];
            dc_fmt(path, sizeof path, "%s/c%d_%d.c", dir, s, i);
            CHECK(dc_write_file(path, code, strlen(code), err, sizeof err) == 0);
            int n = snprintf(wrap, sizeof wrap,
                             "#include \"%s/sandbox/discover_objective.h\"\n"
                             "#define objective ev_%d_%d\n#include \"c%d_%d.c\"\n",
                             DC_SOURCE_DIR, s, i, s, i);
            dc_fmt(path, sizeof path, "%s/w%d_%d.c", dir, s, i);
            CHECK(dc_write_file(path, wrap, (size_t)n, err, sizeof err) == 0);
        }
        for (int i = 0; i < DRAWS; i++)
            evolve_proposal_free(&props[i]);
    }
    CHECK_MSG(bad == 0, "%d of %d token proposals fail the sandbox pre-screen", bad, total);
    /* the search goes past the seeds and uses every kind of token gene */
    CHECK(children > NSEEDS * DRAWS / 2);
    CHECK_MSG(sim > 3 && lr > 3 && pos > 3, "sim %d lr %d pos %d of %d", sim, lr, pos, total);
    dc_fmt(cmd, sizeof cmd,
           "cd %s && cc -std=c99 -O0 -Wall -Wextra -Werror -c w*.c 2> cc.log && cd / && rm -rf %s",
           dir, dir);
    CHECK_MSG(system(cmd) == 0, "compiling the proposals failed; see %s/cc.log", dir);
}

int main(void)
{
    test_genes();
    test_seed_values();
    test_draws();
    return TEST_REPORT();
}
