/* loopback_llm.c — a stand-in for a hosted LLM for the outer-loop benchmarks: an
 * OpenAI-compatible server on 127.0.0.1 that answers every chat completion with a real
 * candidate reply after a fixed delay (5 s by default, a typical hosted-model latency).
 *
 *   loopback_llm [--delay S] [--replies N] [--lifetime S] URL_FILE
 *
 * It writes its base URL ("http://127.0.0.1:PORT/v1") to URL_FILE, then serves until its
 * lifetime ends (default 3600 s) or it is killed. Every reply is a distinct, working
 * classification objective (label smoothing with its own ε, then focal-style exponents), so
 * each is trained rather than caught as a duplicate: the benchmark measures campaigns, not the
 * de-duplication shortcut. Connections are served on threads of their own (the scripted server
 * of the tests, tests/outer/fake_llm_server.c), so calls in flight overlap. */
#define _GNU_SOURCE
#include "common/util.h"
#include "tests/outer/fake_llm_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Candidate k: cross-entropy against a target smoothed by eps_k, times (1 + gamma_k·(1 - p_y)). */
static char *candidate(int k)
{
    double eps = 0.02 + 0.004 * (k % 25);
    double gamma = 0.1 * (k / 25);
    char code[2048], name[64], thought[160];
    /* with its analytic gradient, as a careful model writes it (the sandbox checks it): the
     * benchmark then times the campaign, not central differences */
    snprintf(code, sizeof code,
             "#include <math.h>\n"
             "static const double eps = %.4f, gamma = %.2f;\n"
             "static double one(int k, const double *z, int y, double *g)\n"
             "{\n"
             "    double mx = z[0];\n"
             "    for (int j = 1; j < k; j++) mx = fmax(mx, z[j]);\n"
             "    double s = 0.0, nll_sum = 0.0;\n"
             "    for (int j = 0; j < k; j++) s += exp(z[j] - mx);\n"
             "    double lse = mx + log(s);\n"
             "    for (int j = 0; j < k; j++) nll_sum += lse - z[j];\n"
             "    double py = exp(z[y] - lse);\n"
             "    double ce = (1.0 - eps) * (lse - z[y]) + eps * nll_sum / k;\n"
             "    double f = 1.0 + gamma * (1.0 - py);\n"
             "    if (g)\n"
             "        for (int j = 0; j < k; j++) {\n"
             "            double pj = exp(z[j] - lse), dy = j == y ? 1.0 : 0.0;\n"
             "            double dce = pj - (1.0 - eps) * dy - eps / k;\n"
             "            double df = -gamma * py * (dy - pj);\n"
             "            g[j] = dce * f + ce * df;\n"
             "        }\n"
             "    return ce * f;\n"
             "}\n"
             "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
             "{\n"
             "    for (int i = 0; i < n; i++) loss[i] = one(k, logits + (long)i * k, labels[i], 0);\n"
             "}\n"
             "void objective_grad(int n, int k, const double *logits, const int *labels,\n"
             "                    double *loss, double *d_logits)\n"
             "{\n"
             "    for (int i = 0; i < n; i++)\n"
             "        loss[i] = one(k, logits + (long)i * k, labels[i], d_logits + (long)i * k);\n"
             "}\n",
             eps, gamma);
    snprintf(name, sizeof name, "ls_focal_%03d", k);
    snprintf(thought, sizeof thought, "Label smoothing eps %.3f with a focal factor %.1f.", eps,
             gamma);
    return fake_llm_candidate_reply(thought, name, code);
}

int main(int argc, char **argv)
{
    double delay = 5.0, lifetime = 3600.0;
    int nreplies = 200;
    const char *url_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--delay") && i + 1 < argc)
            delay = atof(argv[++i]);
        else if (!strcmp(argv[i], "--replies") && i + 1 < argc)
            nreplies = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lifetime") && i + 1 < argc)
            lifetime = atof(argv[++i]);
        else if (argv[i][0] != '-' && !url_file)
            url_file = argv[i];
        else {
            fprintf(stderr, "usage: loopback_llm [--delay S] [--replies N] [--lifetime S] URL_FILE\n");
            return 2;
        }
    }
    if (!url_file || nreplies < 1 || nreplies > 1000 || delay < 0) {
        fprintf(stderr, "usage: loopback_llm [--delay S] [--replies N (1..1000)] [--lifetime S] "
                        "URL_FILE\n");
        return 2;
    }
    fake_llm *srv = fake_llm_start_opts(lifetime);
    if (!srv) return 1;
    char **replies = dc_calloc((size_t)nreplies, sizeof *replies);
    for (int k = 0; k < nreplies; k++) replies[k] = candidate(k);
    /* every model name the campaign may send gets the same script */
    fake_llm_set_model_replies(srv, "loopback", (const char *const *)replies, nreplies);
    fake_llm_set_model_delay(srv, "loopback", delay);
    FILE *f = fopen(url_file, "w");
    if (!f || fprintf(f, "%s\n", fake_llm_base_url(srv)) < 0 || fclose(f) != 0) {
        fprintf(stderr, "loopback_llm: cannot write %s\n", url_file);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    double end = dc_now() + lifetime;
    while (!stop && dc_now() < end) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fake_llm_stop(srv);
    for (int k = 0; k < nreplies; k++) free(replies[k]);
    free(replies);
    return 0;
}
