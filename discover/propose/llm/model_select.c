/* model_select.c — fixed-weight sampling and the UCB1 / Thompson bandits over LLMs. */
#include "model_select.h"

#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* One price list: "" (all unknown), one number (every model) or one per model. */
static int parse_prices(dc_model_select *s, const char *key, const char *text, int out_side,
                        char *err, size_t errcap)
{
    if (!text || !*text) return 0;
    double v[DC_MSEL_MAX];
    char e[256];
    int n = dc_parse_double_list(text, v, DC_MSEL_MAX, e, sizeof e);
    if (n < 0) {
        dc_fmt(err, errcap, "%s: %s", key, e);
        return -1;
    }
    if (n != 1 && n != s->n) {
        dc_fmt(err, errcap,
               "%s has %d prices but --model names %d models; give one price per model, in "
               "the order of --model, or one price for all",
               key, n, s->n);
        return -1;
    }
    for (int i = 0; i < s->n; i++) {
        double p = v[n == 1 ? 0 : i];
        if (!(p >= 0)) {
            dc_fmt(err, errcap, "%s: price %g of model '%s' is negative; prices are >= 0", key,
                   p, s->arms[i].name);
            return -1;
        }
        if (out_side) s->arms[i].price_out = p;
        else s->arms[i].price_in = p;
    }
    return 0;
}

int dc_msel_init(dc_model_select *s, const char *models, const char *weights, const char *select,
                 int cost_aware, const char *price_in, const char *price_out, char *err,
                 size_t errcap)
{
    memset(s, 0, sizeof *s);
    s->cost_aware = cost_aware;
    if (!select || !*select || !strcmp(select, "weights")) s->mode = DC_MSEL_WEIGHTS;
    else if (!strcmp(select, "ucb")) s->mode = DC_MSEL_UCB;
    else if (!strcmp(select, "thompson")) s->mode = DC_MSEL_THOMPSON;
    else {
        dc_fmt(err, errcap, "model_select must be weights, ucb or thompson (got '%s')", select);
        return -1;
    }
    const char *p = models ? models : "";
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            dc_fmt(err, errcap, "--model '%s' has an empty model name; write names like A,B",
                   models ? models : "");
            return -1;
        }
        if (s->n == DC_MSEL_MAX) {
            dc_fmt(err, errcap, "--model names more than %d models", DC_MSEL_MAX);
            return -1;
        }
        if (len >= sizeof s->arms[0].name) {
            dc_fmt(err, errcap, "--model: the name '%.*s...' is longer than %zu characters", 20,
                   p, sizeof s->arms[0].name - 1);
            return -1;
        }
        dc_msel_arm *a = &s->arms[s->n];
        memcpy(a->name, p, len);
        a->name[len] = '\0';
        if (dc_msel_find(s, a->name) >= 0) {
            dc_fmt(err, errcap, "--model names '%s' twice; name each model once", a->name);
            return -1;
        }
        a->weight = 1;
        s->n++;
        if (!comma) break;
        p = comma + 1;
    }
    if (weights && *weights) {
        if (s->mode != DC_MSEL_WEIGHTS) {
            dc_fmt(err, errcap, "--model-weights is for fixed sampling; leave it out with "
                                "--model-select ucb or thompson");
            return -1;
        }
        double w[DC_MSEL_MAX];
        char e[256];
        int n = dc_parse_double_list(weights, w, DC_MSEL_MAX, e, sizeof e);
        if (n < 0) {
            dc_fmt(err, errcap, "model_weights: %s", e);
            return -1;
        }
        if (n != s->n) {
            dc_fmt(err, errcap,
                   "--model-weights has %d weights but --model names %d models; give one "
                   "weight per model, in the same order",
                   n, s->n);
            return -1;
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            if (!(w[i] >= 0)) {
                dc_fmt(err, errcap, "--model-weights: weight %g of model '%s' is negative; "
                                    "weights are >= 0", w[i], s->arms[i].name);
                return -1;
            }
            s->arms[i].weight = w[i];
            sum += w[i];
        }
        if (!(sum > 0)) {
            dc_fmt(err, errcap, "--model-weights are all 0; give at least one model a weight > 0");
            return -1;
        }
    }
    if (parse_prices(s, "price_in", price_in, 0, err, errcap) != 0) return -1;
    return parse_prices(s, "price_out", price_out, 1, err, errcap);
}

int dc_msel_find(const dc_model_select *s, const char *name)
{
    for (int i = 0; name && i < s->n; i++)
        if (!strcmp(s->arms[i].name, name)) return i;
    return -1;
}

int dc_msel_unknown_price(const dc_model_select *s)
{
    for (int i = 0; i < s->n; i++)
        if (!(s->arms[i].price_in > 0) && !(s->arms[i].price_out > 0)) return 1;
    return 0;
}

void dc_msel_record(dc_model_select *s, int i, int improved, double cost)
{
    if (i < 0 || i >= s->n) return;
    s->arms[i].pulls++;
    s->arms[i].wins += improved ? 1 : 0;
    s->arms[i].cost += isfinite(cost) && cost > 0 ? cost : 0;
}

/* An arm's mean cost per call, floored (unknown prices would divide by 0). */
static double mean_cost(const dc_msel_arm *a)
{
    double c = a->pulls ? a->cost / a->pulls : 0;
    return c > DC_MSEL_MIN_COST ? c : DC_MSEL_MIN_COST;
}

/* Gamma(k, 1) for k >= 1 (Marsaglia and Tsang, 2000). */
static double gamma_draw(dc_rng *r, double k)
{
    double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = dc_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = dc_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (u > 0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

static int choose_weights(const dc_model_select *s, dc_rng *rng)
{
    double sum = 0;
    for (int i = 0; i < s->n; i++) sum += s->arms[i].weight;
    double u = dc_rng_uniform(rng) * sum;
    int last = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->arms[i].weight <= 0) continue;
        last = i;
        if (u < s->arms[i].weight) return i;
        u -= s->arms[i].weight;
    }
    return last; /* rounding left u at the very top */
}

/* UCB1: every model once, then the highest mean + sqrt(2 ln N / n). With cost-awareness
 * the mean is wins per unit of cost, scaled by the largest such mean so that it stays in
 * [0, 1] like the exploration term it is added to. */
static int choose_ucb(const dc_model_select *s)
{
    int total = 0;
    double m[DC_MSEL_MAX], top = 0;
    for (int i = 0; i < s->n; i++) {
        if (!s->arms[i].pulls) return i;
        total += s->arms[i].pulls;
        m[i] = (double)s->arms[i].wins / s->arms[i].pulls;
        if (s->cost_aware) m[i] /= mean_cost(&s->arms[i]);
        if (m[i] > top) top = m[i];
    }
    int best = 0;
    double best_score = -1;
    for (int i = 0; i < s->n; i++) {
        double mean = top > 0 ? m[i] / top : 0;
        double score = mean + sqrt(2.0 * log((double)total) / s->arms[i].pulls);
        if (score > best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

/* Thompson sampling: a draw from each model's Beta(1 + wins, 1 + losses) posterior of its
 * improvement rate, per unit of mean cost with cost-awareness; the largest wins. */
static int choose_thompson(const dc_model_select *s, dc_rng *rng)
{
    int best = 0;
    double best_v = -1;
    for (int i = 0; i < s->n; i++) {
        const dc_msel_arm *a = &s->arms[i];
        double x = gamma_draw(rng, 1.0 + a->wins), y = gamma_draw(rng, 1.0 + a->pulls - a->wins);
        double v = x / (x + y);
        if (s->cost_aware) v /= mean_cost(a);
        if (v > best_v) {
            best_v = v;
            best = i;
        }
    }
    return best;
}

int dc_msel_choose(const dc_model_select *s, dc_rng *rng)
{
    if (s->n <= 1) return 0;
    switch (s->mode) {
    case DC_MSEL_UCB: return choose_ucb(s);
    case DC_MSEL_THOMPSON: return choose_thompson(s, rng);
    default: return choose_weights(s, rng);
    }
}
