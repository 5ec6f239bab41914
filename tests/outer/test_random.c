/* test_random — the control proposer (`--proposer random`): draws are deterministic for a
 * seed, differ from evolve's on the same streams, have no parents, cover the grammar
 * (every term of each interface, mixtures, gates, divergences and logit margins), carry a
 * genome line that parses back, token-level draws use the token-level grammar's weight
 * factors at their rate, and every draw passes the sandbox's compile and pre-screen
 * (token-level ones too). */
#include "discover/propose/evolve/evolve.h"
#include "discover/propose/evolve/evolve_token.h"
#include "sandbox/sandbox.h"
#include "tests/test.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define NDRAWS 60

typedef struct {
    evolve_parent p[NDRAWS];
    evolve_proposal props[NDRAWS];
    int n;
} pool_t;

static void pool_free(pool_t *pl)
{
    for (int i = 0; i < pl->n; i++)
        evolve_proposal_free(&pl->props[i]);
    pl->n = 0;
}

/* Proposals on the proposer's streams (seed·1000003 + generation, as proposer.c seeds
 * them), each archived as "ok" with a made-up fitness so evolve has parents to select. */
static void draws(int iface, int use_random, uint64_t seed, int n, pool_t *pl)
{
    for (int g = 0; g < n; g++) {
        dc_rng r;
        dc_rng_seed(&r, seed * 1000003ULL + (uint64_t)g);
        evolve_proposal *p = &pl->props[pl->n];
        char err[256];
        int rc = use_random ? evolve_random(iface, pl->p, pl->n, &r, p, err, sizeof err)
                            : evolve_propose(iface, pl->p, pl->n, &r, p, err, sizeof err);
        if (rc) {
            CHECK_MSG(0, "draw %d failed: %s", g, err);
            return;
        }
        double f = 0.5 + (double)(dc_hash64(p->text.code, strlen(p->text.code), 1) % 100) / 1000.0;
        pl->p[pl->n] = (evolve_parent){100 + pl->n, p->text.name, p->text.code, "ok", 1, f};
        pl->n++;
    }
}

static void test_deterministic_and_unlike_evolve(void)
{
    for (int iface = 0; iface < 3; iface++) {
        pool_t a = {0}, b = {0}, c = {0}, e = {0};
        draws(iface, 1, 7, NDRAWS, &a);
        draws(iface, 1, 7, NDRAWS, &b);
        draws(iface, 1, 8, NDRAWS, &c);
        draws(iface, 0, 7, NDRAWS, &e);
        int same = a.n == NDRAWS && b.n == NDRAWS, distinct = 1, like_other = 0, like_evolve = 0;
        for (int i = 0; same && i < a.n; i++)
            same = !strcmp(a.p[i].code, b.p[i].code) && !strcmp(a.p[i].name, b.p[i].name) &&
                   !strcmp(a.props[i].text.thought, b.props[i].text.thought);
        for (int i = 0; i < a.n; i++) {
            CHECK_MSG(a.props[i].nparents == 0, "iface %d draw %d has a parent", iface, i);
            for (int j = 0; j < i; j++)
                distinct &= strcmp(a.p[i].code, a.p[j].code) != 0;
            for (int j = 0; j < c.n; j++)
                like_other += !strcmp(a.p[i].code, c.p[j].code);
            for (int j = 0; j < e.n; j++)
                like_evolve += !strcmp(a.p[i].code, e.p[j].code);
        }
        CHECK_MSG(same, "iface %d: the same seed must give the same draws", iface);
        CHECK_MSG(distinct, "iface %d: draws repeat an earlier draw", iface);
        /* Single-term genomes are few (classification: six terms), so a few draws of other
         * streams coincide by chance; a shared stream would make most of them equal. */
        CHECK_MSG(like_other <= NDRAWS / 10, "iface %d: seeds 7 and 8 share %d draws", iface,
                  like_other);
        CHECK_MSG(like_evolve <= NDRAWS / 10, "iface %d: %d random draws equal evolve's proposals",
                  iface, like_evolve);
        pool_free(&a);
        pool_free(&b);
        pool_free(&c);
        pool_free(&e);
    }
}

/* Every term of the interface, a mixture, and (preference) both data-dependent gates show
 * up within NDRAWS draws; every genome line parses back. */
static void test_covers_grammar(void)
{
    for (int iface = 0; iface < 2; iface++) {
        pool_t a = {0};
        draws(iface, 1, 11, NDRAWS, &a);
        int seen[EV_NOPS] = {0}, gates[EV_NGATES] = {0}, mods = 0, divs = 0, margins = 0;
        for (int i = 0; i < a.n; i++) {
            evolve_genome g;
            char err[256];
            int rc = evolve_genome_from_code(a.p[i].code, &g, err, sizeof err);
            CHECK_MSG(rc == 0, "draw %d: genome line does not parse: %s", i, err);
            if (rc) continue;
            CHECK(g.iface == iface);
            CHECK(g.nnodes >= 1 && g.nnodes <= EVOLVE_MAX_NODES);
            CHECK(evolve_subtree_depth(&g, 0) <= EVOLVE_MAX_DEPTH);
            for (int k = 0; k < g.nnodes; k++) {
                seen[g.node[k].op]++;
                if (g.node[k].op == EV_MIX) gates[g.node[k].gate]++;
            }
            mods += iface == SBX_PREF ? (g.scale != 1.0 || g.margin != 0 || g.centre != 0)
                                      : g.temp != 1.0;
            divs += iface == SBX_PREF && g.div != EV_DIV_RKL;
            margins += iface == SBX_CLS && g.cmargin != 0.0;
        }
        for (int op = 1; op < EV_NOPS; op++)
            if (evolve_op_get(op)->iface == iface)
                CHECK_MSG(seen[op] > 0, "iface %d: term %s never drawn", iface,
                          evolve_op_get(op)->name);
        CHECK_MSG(seen[EV_MIX] > 0, "iface %d: no mixture drawn", iface);
        CHECK_MSG(mods > 0 && mods < a.n, "iface %d: modifiers drawn in %d of %d", iface, mods,
                  a.n);
        /* the f-divergence (preference) and the logit margin (classification) */
        CHECK_MSG(iface == SBX_PREF ? divs > 0 && divs < a.n : margins > 0 && margins < a.n,
                  "iface %d: divergences %d, margins %d of %d", iface, divs, margins, a.n);
        if (iface == SBX_PREF)
            CHECK_MSG(gates[EV_GATE_SIG] > 0 && gates[EV_GATE_BVAR] > 0 && gates[EV_GATE_BMEAN] > 0,
                      "preference: gates sig %d bvar %d bmean %d", gates[EV_GATE_SIG],
                      gates[EV_GATE_BVAR], gates[EV_GATE_BMEAN]);
        else
            CHECK_MSG(gates[EV_GATE_SIG] == 0 && gates[EV_GATE_BVAR] == 0,
                      "classification drew a preference gate");
        pool_free(&a);
    }
}

/* Token-level draws come from evolve's token-level grammar: both genome lines parse back,
 * each token-weight factor (similarity gate, log-ratio gate, position ramp) is on in about
 * half of the draws (binomial(60, 1/2): 15..45 is 3.9 standard deviations either side),
 * its building block is in the code exactly when it is on, and the pair loss varies over
 * the preference grammar. */
static void test_token_grammar(void)
{
    pool_t a = {0};
    draws(SBX_TOKEN_PREF, 1, 11, NDRAWS, &a);
    CHECK(a.n == NDRAWS);
    int on[3] = {0}, all_off = 0, all_on = 0, seen[EV_NOPS] = {0};
    for (int i = 0; i < a.n; i++) {
        const char *code = a.p[i].code;
        evolve_token_genome g;
        char err[256];
        int rc = evolve_token_from_code(code, &g, err, sizeof err);
        CHECK_MSG(rc == 0, "token draw %d: genome lines do not parse: %s", i, err);
        if (rc) continue;
        CHECK(strstr(code, "evolve-token:") && strstr(code, "const token_pref_batch *t"));
        CHECK_MSG(!strncmp(a.p[i].name, "tok", 3), "token draw %d named %s", i, a.p[i].name);
        CHECK(strstr(a.props[i].text.thought, "token-level grammar") != NULL);
        int f[3] = {g.tok.sim_lo != 1.0 || g.tok.sim_hi != 1.0, g.tok.lr_k != 0.0,
                    g.tok.pos != 0.0};
        static const char *const block[3] = {"ambiguous tokens down", "not yet learned",
                                             "position ramp */"};
        for (int k = 0; k < 3; k++) {
            on[k] += f[k];
            CHECK_MSG(f[k] == (strstr(code, block[k]) != NULL),
                      "token draw %d: gene %d is %s but its code %s it", i, k, f[k] ? "on" : "off",
                      f[k] ? "lacks" : "has");
        }
        all_off += !f[0] && !f[1] && !f[2];
        all_on += f[0] && f[1] && f[2];
        for (int k = 0; k < g.seq.nnodes; k++)
            seen[g.seq.node[k].op]++;
    }
    for (int k = 0; k < 3; k++)
        CHECK_MSG(on[k] >= NDRAWS / 4 && on[k] <= 3 * NDRAWS / 4,
                  "token gene %d on in %d of %d draws", k, on[k], NDRAWS);
    CHECK_MSG(all_off > 0 && all_on > 0, "all genes off in %d draws, all on in %d", all_off,
              all_on);
    for (int op = 1; op < EV_NOPS; op++)
        if (evolve_op_get(op)->iface == SBX_PREF)
            CHECK_MSG(seen[op] > 0, "token draws: pair-loss term %s never drawn",
                      evolve_op_get(op)->name);
    CHECK(seen[EV_MIX] > 0);
    pool_free(&a);
}

/* Each draw through the real sandbox: libtcc in the locked-down worker + pre-screen. */
static void test_sandbox_prescreen(void)
{
    static const int per[3] = {24, 24, 16};
    int bad = 0, total = 0;
    for (int iface = 0; iface < 3; iface++) {
        pool_t a = {0};
        draws(iface, 1, 2026, per[iface], &a);
        for (int i = 0; i < a.n; i++) {
            char msg[512] = "";
            sbx_worker *w = NULL;
            dc_status st = sbx_open(iface, a.p[i].code, strlen(a.p[i].code), NULL, &w, msg,
                                    sizeof msg);
            if (st == DC_OK) st = sbx_prescreen(w, msg, sizeof msg);
            total++;
            if (st != DC_OK && bad++ < 3)
                fprintf(stderr, "iface %d %s rejected (%s): %s\n", iface, a.p[i].name,
                        dc_status_name(st), msg);
            sbx_close(w);
        }
        pool_free(&a);
    }
    CHECK_MSG(bad == 0, "%d of %d random draws fail the sandbox pre-screen", bad, total);
}

static void test_bad_interface(void)
{
    dc_rng r;
    dc_rng_seed(&r, 1);
    evolve_proposal p;
    char err[256] = "";
    CHECK(evolve_random((sbx_kind)9, NULL, 0, &r, &p, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "interface") != NULL, "message: %s", err);
}

int main(void)
{
    test_deterministic_and_unlike_evolve();
    test_covers_grammar();
    test_token_grammar();
    test_sandbox_prescreen();
    test_bad_interface();
    return TEST_REPORT();
}
