/* campaign_fixture.c — see campaign_fixture.h. */
#include "campaign_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fx_load(const char *db, const char *campaign, fx_cands *out)
{
    memset(out, 0, sizeof *out);
    archive *a;
    char e[512];
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) != 0) return;
    arc_campaign c;
    if (archive_campaign_by_name(a, campaign, &c, e, sizeof e) == 0) {
        arc_filter f = {.campaign_id = c.id, .with_code = 1};
        if (archive_candidate_list(a, &f, &out->c, &out->n, e, sizeof e) != 0) out->n = 0;
        arc_campaign_free(&c);
    }
    archive_close(a);
}

void fx_unload(fx_cands *x)
{
    for (int i = 0; i < x->n; i++)
        arc_candidate_free(&x->c[i]);
    free(x->c);
    memset(x, 0, sizeof *x);
}

int fx_children_of(pid_t pid, pid_t *out, int cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, x;
    while (n < cap && fscanf(f, "%d", &x) == 1)
        out[n++] = x;
    fclose(f);
    return n;
}

int fx_gone(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    int zombie = fgets(buf, sizeof buf, f) && strstr(buf, ") Z ");
    fclose(f);
    return zombie;
}

int fx_count_status(const fx_cands *x, const char *status)
{
    int n = 0;
    for (int i = 0; i < x->n; i++)
        n += !strcmp(x->c[i].status, status);
    return n;
}

const char *const fx_code_ls =
    "#include <math.h>\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
    "{\n"
    "    for (int i = 0; i < n; i++) {\n"
    "        const double *z = logits + i * k;\n"
    "        double m = z[0];\n"
    "        for (int j = 1; j < k; j++) m = fmax(m, z[j]);\n"
    "        double s = 0.0;\n"
    "        for (int j = 0; j < k; j++) s += exp(z[j] - m);\n"
    "        double lse = m + log(s), mean = 0.0;\n"
    "        for (int j = 0; j < k; j++) mean += lse - z[j];\n"
    "        loss[i] = 0.95 * (lse - z[labels[i]]) + 0.05 * mean / k;\n"
    "    }\n"
    "}\n";

/* The same objective with other names and layout: a behavioural duplicate. */
const char *const fx_code_ls_renamed =
    "#include <math.h>\n"
    "/* smoothed CE */\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss) {\n"
    "  for (int r = 0; r < n; r++) { const double *q = logits + r * k; double mx = q[0];\n"
    "    for (int c = 1; c < k; c++) mx = fmax(mx, q[c]);\n"
    "    double acc = 0.0; for (int c = 0; c < k; c++) acc += exp(q[c] - mx);\n"
    "    double l = mx + log(acc), avg = 0.0; for (int c = 0; c < k; c++) avg += l - q[c];\n"
    "    loss[r] = 0.95 * (l - q[labels[r]]) + 0.05 * avg / k; }\n"
    "}\n";

const char *const fx_code_sq =
    "#include <math.h>\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
    "{\n"
    "    for (int i = 0; i < n; i++) {\n"
    "        const double *z = logits + i * k;\n"
    "        double m = z[0], s = 0.0, e = 0.0;\n"
    "        for (int j = 1; j < k; j++) m = fmax(m, z[j]);\n"
    "        for (int j = 0; j < k; j++) s += exp(z[j] - m);\n"
    "        for (int j = 0; j < k; j++) {\n"
    "            double p = exp(z[j] - m) / s - (j == labels[i]);\n"
    "            e += p * p;\n"
    "        }\n"
    "        loss[i] = e;\n"
    "    }\n"
    "}\n";
