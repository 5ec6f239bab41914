/* evolve_token.c — the token-level genes (evolve_token.h): text form, parsing, and rendering
 * a token-level genome to a token_pref_batch objective around the sequence-level loss. */
#include "evolve_token.h"

#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void evolve_token_genes_off(evolve_token_genes *t)
{
    *t = (evolve_token_genes){
        .sim_a = 0.5, .sim_t = 0.05, .sim_lo = 1, .sim_hi = 1, .lr_k = 0, .lr_t = 1, .pos = 0};
}

int evolve_token_genes_format(const evolve_token_genes *t, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "sim=%.4g,%.4g,%.4g,%.4g lr=%.4g,%.4g pos=%.4g", t->sim_a, t->sim_t,
                     t->sim_lo, t->sim_hi, t->lr_k, t->lr_t, t->pos);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The ranges mutation keeps genes in; parsing rejects anything outside, so a hand-edited
 * line cannot make a weight reach zero (Σ w must stay positive for norm=avg). */
static int in(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

int evolve_token_genes_parse(const char *text, evolve_token_genes *t, char *err, size_t errcap)
{
    int used = 0;
    if (sscanf(text, " sim=%lf,%lf,%lf,%lf lr=%lf,%lf pos=%lf %n", &t->sim_a, &t->sim_t, &t->sim_lo,
               &t->sim_hi, &t->lr_k, &t->lr_t, &t->pos, &used) != 7 ||
        text[used] != '\0') {
        snprintf(err, errcap, "evolve-token line not of the form 'sim=A,T,LO,HI lr=K,R pos=P': %s",
                 text);
        return -1;
    }
    if (!in(t->sim_a, 0, 1) || !in(t->sim_t, 0.02, 0.5) || !in(t->sim_lo, 0.05, 1) ||
        !in(t->sim_hi, 1, 3) || !in(t->lr_k, 0, 0.9) || !in(t->lr_t, 0.05, 5) ||
        !in(t->pos, -0.9, 0.9)) {
        snprintf(err, errcap,
                 "evolve-token gene out of range (A in [0,1], T in [0.02,0.5], LO in [0.05,1], "
                 "HI in [1,3], K in [0,0.9], R in [0.05,5], P in [-0.9,0.9]): %s",
                 text);
        return -1;
    }
    return 0;
}

int evolve_token_from_code(const char *code, evolve_token_genome *g, char *err, size_t errcap)
{
    static const char tag[] = "evolve-token:";
    if (evolve_genome_from_code(code, &g->seq, err, errcap)) return -1;
    if (g->seq.iface != SBX_PREF) {
        snprintf(err, errcap, "the evolve-genome line is not a preference genome");
        return -1;
    }
    evolve_token_genes_off(&g->tok);
    const char *at = strstr(code, tag);
    if (!at) return 0;
    at += sizeof tag - 1;
    const char *end = strstr(at, "*/");
    const char *nl = strchr(at, '\n');
    if (!end || (nl && nl < end)) end = nl ? nl : at + strlen(at);
    char line[256];
    size_t n = (size_t)(end - at);
    if (n >= sizeof line) {
        snprintf(err, errcap, "evolve-token line too long");
        return -1;
    }
    memcpy(line, at, n);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\r'))
        n--;
    line[n] = 0;
    return evolve_token_genes_parse(line, &g->tok, err, errcap);
}

/* The weight helper: only the factors that are on, the rest of the arguments cast away so the
 * file compiles under -Wall -Wextra. Sigmoid written stably for either sign. */
static void render_weight(const evolve_token_genes *t, dc_sb *o)
{
    if (t->sim_lo != 1.0 || t->sim_hi != 1.0 || t->lr_k != 0.0)
        dc_sb_append(o, "static double tok_sig(double z)\n{\n"
                        "    if (z >= 0) return 1.0 / (1.0 + exp(-z));\n"
                        "    double e = exp(z);\n    return e / (1.0 + e);\n}\n\n");
    dc_sb_append(o, "/* Weight of one token: sim its similarity to the other response, d its\n"
                    " * beta-scaled log-ratio, u its position in (0, 1), side +1 chosen, -1 "
                    "rejected. */\n"
                    "static double tok_weight(double sim, double d, double u, double side)\n{\n"
                    "    double w = 1.0;\n"
                    "    (void)sim, (void)d, (void)u, (void)side;\n");
    if (t->sim_lo != 1.0 || t->sim_hi != 1.0)
        dc_sb_printf(o,
                     "    w *= %.4g + (%.4g - %.4g) * tok_sig((%.4g - sim) / %.4g); /* ambiguous "
                     "tokens down, key tokens up */\n",
                     t->sim_lo, t->sim_hi, t->sim_lo, t->sim_a, t->sim_t);
    if (t->lr_k != 0.0)
        dc_sb_printf(o,
                     "    w *= %.4g + %.4g * 2.0 * tok_sig(-side * d / %.4g); /* tokens not yet "
                     "learned count more */\n",
                     1.0 - t->lr_k, t->lr_k, t->lr_t);
    if (t->pos != 0.0)
        dc_sb_printf(o, "    w *= 1.0 + %.4g * (2.0 * u - 1.0); /* position ramp */\n", t->pos);
    dc_sb_append(o, "    return w;\n}\n");
}

char *evolve_token_render(const evolve_token_genome *g, const char *name)
{
    static const char *const sig = "void objective(const pref_batch *b, double *loss)";
    char genes[256];
    if (g->seq.iface != SBX_PREF || evolve_token_genes_format(&g->tok, genes, sizeof genes))
        return NULL;
    char *seq = evolve_render_seq(&g->seq, name);
    if (!seq) return NULL;
    char *nl = strchr(seq, '\n');
    char *at = strstr(seq, sig);
    if (!nl || !at || at < nl) {
        free(seq);
        return NULL;
    }
    dc_sb s = {0};
    /* line 1 stays the sequence-level genome; the token genes follow it */
    dc_sb_appendn(&s, seq, (size_t)(nl + 1 - seq));
    dc_sb_printf(&s, "/* evolve-token: %s */\n", genes);
    dc_sb_appendn(&s, nl + 1, (size_t)(at - nl - 1));
    dc_sb_printf(&s, "static void seq_objective(const pref_batch *b, double *loss)%s\n",
                 at + strlen(sig));
    free(seq);
    render_weight(&g->tok, &s);
    dc_sb_append(
        &s,
        "\n/* The token-level interface: each pair's weighted sums of per-token log-probs\n"
        " * (policy and reference; the weights' sum as the length) into the pair loss above,\n"
        " * at most SEQ_CHUNK pairs at a time (a batch is never larger in practice). */\n"
        "#define SEQ_CHUNK 4096\n"
        "static void tok_sums(const token_pref_batch *t, int off, int len, const double *lp,\n"
        "                     const double *ref, double side, double *s)\n{\n"
        "    s[0] = s[1] = s[2] = 0;\n"
        "    for (int k = 0; k < len; k++) {\n"
        "        int j = off + k;\n"
        "        const double *sim = side > 0 ? t->chosen_sim : t->rejected_sim;\n"
        "        double w = tok_weight(sim[j], t->beta * (lp[j] - ref[j]), (k + 0.5) / len, "
        "side);\n"
        "        s[0] += w * lp[j], s[1] += w * ref[j], s[2] += w;\n"
        "    }\n}\n\n"
        "void objective(const token_pref_batch *t, double *loss)\n{\n"
        "    double v[6][SEQ_CHUNK];\n"
        "    for (int i0 = 0; i0 < t->n; i0 += SEQ_CHUNK) {\n"
        "        int n = t->n - i0 < SEQ_CHUNK ? t->n - i0 : SEQ_CHUNK;\n"
        "        for (int i = 0; i < n; i++) {\n"
        "            double c[3], r[3];\n"
        "            tok_sums(t, t->chosen_off[i0 + i], t->chosen_len[i0 + i], t->chosen_logps,\n"
        "                     t->ref_chosen_logps, 1.0, c);\n"
        "            tok_sums(t, t->rejected_off[i0 + i], t->rejected_len[i0 + i],\n"
        "                     t->rejected_logps, t->ref_rejected_logps, -1.0, r);\n"
        "            v[0][i] = c[0], v[1][i] = r[0], v[2][i] = c[1], v[3][i] = r[1];\n"
        "            v[4][i] = c[2], v[5][i] = r[2];\n"
        "        }\n"
        "        pref_batch b = {n, t->beta, v[0], v[1], v[2], v[3], v[4], v[5]};\n"
        "        seq_objective(&b, loss + i0);\n"
        "    }\n}\n");
    return dc_sb_take(&s);
}
