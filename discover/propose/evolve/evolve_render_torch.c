/* evolve_render_torch.c — a genome as PyTorch tensor operations, for `discover export
 * --format pytorch`: the same loss as the C file evolve_render.c writes, but differentiated
 * by autograd and run on whatever device and dtype the caller's tensors have.
 *
 * The Python mirrors the C expression by expression (same operation order, same %.4g
 * constants), so that in float64 the two agree to rounding. Where the C formula has a kink
 * or a removable singularity, the Python picks the form whose autograd slope equals what the
 * sandbox's central differences see there: those points are where training starts (at
 * policy == reference every preference margin is exactly 0). */
#include "evolve.h"

#include "sandbox/sandbox.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* Python helpers, emitted on demand (only those the formula uses, as the C renderer). */
enum {
    T_LOG1PEXP,
    T_RELU,
    T_BLEND,
    T_LOGISTIC,
    T_HINGE,
    T_EXP,
    T_SQ,
    T_SIGM,
    T_LS,
    T_SQERR,
    T_FOCAL,
    T_GCE,
    T_RCE,
    T_ROBUST,
    T_BCO,
    T_SNLL,
    T_MAE,
    T_TAYLOR,
    T_POLY,
    T_ENT,
    T_MAXLP,
    T_AOT,
    T_FWD,
    T_COUNT
};

static const char *HELPERS[T_COUNT] = {
    [T_LOG1PEXP] =
        "def _log1pexp(z):\n"
        "    # log(1 + e^z) = logaddexp(z, 0) = max(z, 0) + log1p(e^-|z|), the C helper's\n"
        "    # formula; its autograd slope is sigmoid(z) everywhere, z = 0 included.\n"
        "    return torch.logaddexp(z, torch.zeros_like(z))\n",
    [T_RELU] = "def _relu(d):\n"
               "    # max(0, d) as (|d| + d) / 2: the same value bit for bit, and at the kink\n"
               "    # d = 0 the slope 1/2 that central differences see (clamp would give 0 or 1).\n"
               "    return 0.5 * (d.abs() + d)\n",
    [T_BLEND] = "def _blend(w, a, b):\n"
                "    # (1 - w)·a + w·b\n"
                "    return (1.0 - w) * a + w * b\n",
    [T_LOGISTIC] = "def _f_logistic(x, a):\n    return _log1pexp(-a * x)\n",
    [T_HINGE] = "def _f_hinge(x, m):\n    return _relu(m - x)\n",
    [T_EXP] = "def _f_exp(x, a):\n"
              "    # e^(-a·x) with the exponent capped at 50, as in the C file\n"
              "    return torch.exp(torch.clamp(-a * x, max=50.0))\n",
    [T_SQ] = "def _f_sq(x, c, beta):\n    d = (x - c) / beta\n    return d * d\n",
    [T_SIGM] = "def _f_sigm(x, a):\n    return torch.sigmoid(-a * x)\n",
    [T_LS] = "def _c_ls(z, lse, lpy, e):\n"
             "    # (1 - e)·(-log p_y) + e·mean_j(-log p_j)\n"
             "    s = (lse[:, None] - z).sum(dim=1)\n"
             "    return (1.0 - e) * -lpy + e * s / z.shape[1]\n",
    [T_SQERR] = "def _c_sqerr(z, y, lse):\n"
                "    # sum_j (p_j - [j = y])^2\n"
                "    onehot = torch.zeros_like(z).scatter_(1, y[:, None], 1.0)\n"
                "    d = torch.exp(z - lse[:, None]) - onehot\n"
                "    return (d * d).sum(dim=1)\n",
    [T_FOCAL] = "def _c_focal(lpy, g):\n"
                "    # -(1 - p_y)^g · log p_y. At p_y = 1 the power has an infinite slope when\n"
                "    # g < 1 and autograd would give inf·0 = NaN; the C gradient (d_focal) takes\n"
                "    # the limit, 0, so the power is evaluated only where 1 - p_y > 0.\n"
                "    om = -torch.expm1(lpy)\n"
                "    pos = om > 0\n"
                "    safe = torch.where(pos, om, torch.ones_like(om))\n"
                "    return -torch.where(pos, safe**g, torch.zeros_like(om)) * lpy\n",
    [T_GCE] = "def _c_gce(lpy, q):\n    return -torch.expm1(q * lpy) / q\n",
    [T_RCE] = "def _c_rce(lpy):\n"
              "    # -log(1e-4)·(1 - p_y)\n"
              "    return 9.210340371976184 * -torch.expm1(lpy)\n",
    [T_ROBUST] = "def _f_robust(x, e):\n"
                 "    # ((1 - e)·log(1 + e^-x) - e·log(1 + e^x)) / (1 - 2e)\n"
                 "    return ((1.0 - e) * _log1pexp(-x) - e * _log1pexp(x)) / (1.0 - 2.0 * e)\n",
    [T_BCO] = "def _f_bco(uw, ul, delta):\n"
              "    return _log1pexp(-(uw - delta)) + _log1pexp(ul - delta)\n",
    [T_SNLL] = "def _snll(z, lse):\n"
               "    # sum_j -log p_j, the normalizer of NCE\n"
               "    return (lse[:, None] - z).sum(dim=1)\n",
    [T_MAE] = "def _c_mae(lpy):\n"
              "    # sum_j |p_j - [j = y]| = 2·(1 - p_y)\n"
              "    return -2.0 * torch.expm1(lpy)\n",
    [T_TAYLOR] = "def _c_taylor(lpy, order):\n"
                 "    # sum_{i=1..order} (1 - p_y)^i / i\n"
                 "    om = -torch.expm1(lpy)\n"
                 "    pw = torch.ones_like(om)\n"
                 "    s = torch.zeros_like(om)\n"
                 "    for i in range(1, order + 1):\n"
                 "        pw = pw * om\n"
                 "        s = s + pw / i\n"
                 "    return s\n",
    [T_FWD] = "def _c_fwd(lpy, e, k):\n"
              "    # forward correction for symmetric noise e: -log(b + a·p_y)\n"
              "    b = e / (k - 1) if k > 1 else 0.0\n"
              "    a = max(1.0 - e - b, 1e-6)\n"
              "    return -torch.log(b + a * torch.exp(lpy))\n",
    [T_POLY] = "def _c_poly(lpy, e):\n"
               "    return -lpy - e * torch.expm1(lpy)\n",
    [T_ENT] = "def _ent(z, lse):\n"
              "    # the entropy of p: -sum_j p_j·log p_j\n"
              "    lp = z - lse[:, None]\n"
              "    return -(torch.exp(lp) * lp).sum(dim=1)\n",
    [T_MAXLP] = "def _max_z(z):\n"
                "    # the largest logit of each row; at a tie of two or more its slope is 1/2 on\n"
                "    # each of them, what central differences see there (amax would split 1/m)\n"
                "    m = z.amax(dim=1, keepdim=True).detach()\n"
                "    tied = (z == m).to(z.dtype)\n"
                "    cnt = tied.sum(dim=1, keepdim=True)\n"
                "    w = tied * (0.5 + 0.5 * (cnt == 1).to(z.dtype))\n"
                "    lin = (w * z).sum(dim=1)\n"
                "    return m[:, 0] + (lin - lin.detach())\n",
    [T_AOT] = "def _aot(s, t):\n"
              "    # AOT: the two sides' keys sorted separately, log(1 + e^-(s_(r) - t_(r))) rank by\n"
              "    # rank, averaged over the batch: the same value for every pair (the C file sorts\n"
              "    # batches of more than 4096 pairs in chunks of 4096)\n"
              "    d = torch.sort(s).values - torch.sort(t).values\n"
              "    return _log1pexp(-d).mean() * torch.ones_like(s)\n",
};

typedef struct {
    int need[T_COUNT];
    int need_mean, need_var, need_delta, aot, aotp;
} torch_needs;

static void collect(const evolve_genome *g, int i, torch_needs *nd)
{
    const evolve_node *n = &g->node[i];
    switch (n->op) {
    case EV_MIX:
        nd->need[T_BLEND] = 1;
        if (n->gate == EV_GATE_BVAR) nd->need_mean = nd->need_var = 1;
        if (n->gate == EV_GATE_BMEAN) nd->need_mean = 1;
        collect(g, n->kid[0], nd);
        collect(g, n->kid[1], nd);
        break;
    case EV_LOGISTIC:
        nd->need[T_LOGISTIC] = nd->need[T_LOG1PEXP] = 1;
        break;
    case EV_HINGE:
        nd->need[T_HINGE] = nd->need[T_RELU] = 1;
        break;
    case EV_EXP:
        nd->need[T_EXP] = 1;
        break;
    case EV_SQ:
        nd->need[T_SQ] = 1;
        break;
    case EV_SIGM:
        nd->need[T_SIGM] = 1;
        break;
    case EV_LS:
        nd->need[T_LS] = 1;
        break;
    case EV_SQERR:
        nd->need[T_SQERR] = 1;
        break;
    case EV_FOCAL:
        nd->need[T_FOCAL] = 1;
        break;
    case EV_GCE:
        nd->need[T_GCE] = 1;
        break;
    case EV_RCE:
        nd->need[T_RCE] = 1;
        break;
    case EV_ROBUST:
        nd->need[T_ROBUST] = nd->need[T_LOG1PEXP] = 1;
        break;
    case EV_BCO:
        nd->need[T_BCO] = nd->need[T_LOG1PEXP] = nd->need_delta = 1;
        break;
    case EV_AOT:
        nd->need[T_AOT] = nd->need[T_LOG1PEXP] = nd->aot = 1;
        break;
    case EV_AOTP:
        nd->need[T_AOT] = nd->need[T_LOG1PEXP] = nd->aotp = nd->need_delta = 1;
        break;
    case EV_NCE:
    case EV_NCERCE:
    case EV_NCEMAE:
        nd->need[T_SNLL] = 1;
        if (n->op == EV_NCERCE) nd->need[T_RCE] = 1;
        if (n->op == EV_NCEMAE) nd->need[T_MAE] = 1;
        break;
    case EV_MAE:
        nd->need[T_MAE] = 1;
        break;
    case EV_TAYLOR:
        nd->need[T_TAYLOR] = 1;
        break;
    case EV_POLY:
        nd->need[T_POLY] = 1;
        break;
    case EV_FWD:
        nd->need[T_FWD] = 1;
        break;
    case EV_SBOOT:
        nd->need[T_ENT] = 1;
        break;
    case EV_HBOOT:
        nd->need[T_MAXLP] = 1;
        break;
    default:
        break; /* EV_CE is inline */
    }
}

/* The per-row expression of the subtree at i; constants as the C renderer prints them
 * (%.4g, which Python reads back to the same double). */
static void expr(const evolve_genome *g, int i, dc_sb *out)
{
    const evolve_node *n = &g->node[i];
    switch (n->op) {
    case EV_MIX:
        if (n->gate == EV_GATE_CONST)
            dc_sb_printf(out, "_blend(%.4g, ", n->p);
        else if (n->gate == EV_GATE_SIG)
            dc_sb_printf(out, "_blend(torch.sigmoid(x / %.4g), ", n->p);
        else if (n->gate == EV_GATE_BVAR)
            dc_sb_printf(out, "_blend(torch.sigmoid(var / (%.4g * %.4g)), ", n->p, n->p);
        else
            dc_sb_printf(out, "_blend(torch.sigmoid(mean / %.4g), ", n->p);
        expr(g, n->kid[0], out);
        dc_sb_append(out, ", ");
        expr(g, n->kid[1], out);
        dc_sb_append(out, ")");
        break;
    case EV_LOGISTIC:
        dc_sb_printf(out, "_f_logistic(x, %.4g)", n->p);
        break;
    case EV_HINGE:
        dc_sb_printf(out, "_f_hinge(x, %.4g)", n->p);
        break;
    case EV_EXP:
        dc_sb_printf(out, "_f_exp(x, %.4g)", n->p);
        break;
    case EV_SQ:
        dc_sb_printf(out, "_f_sq(x, %.4g, beta)", n->p);
        break;
    case EV_SIGM:
        dc_sb_printf(out, "_f_sigm(x, %.4g)", n->p);
        break;
    case EV_CE:
        dc_sb_append(out, "-lpy");
        break;
    case EV_LS:
        dc_sb_printf(out, "_c_ls(z, lse, lpy, %.4g)", n->p);
        break;
    case EV_SQERR:
        dc_sb_append(out, "_c_sqerr(z, labels, lse)");
        break;
    case EV_FOCAL:
        dc_sb_printf(out, "_c_focal(lpy, %.4g)", n->p);
        break;
    case EV_GCE:
        dc_sb_printf(out, "_c_gce(lpy, %.4g)", n->p);
        break;
    case EV_RCE:
        dc_sb_append(out, "_c_rce(lpy)");
        break;
    case EV_ROBUST:
        dc_sb_printf(out, "_f_robust(x, %.4g)", n->p);
        break;
    case EV_BCO:
        dc_sb_append(out, "_f_bco(uw, ul, delta)");
        break;
    case EV_AOT:
        dc_sb_append(out, "a_aot");
        break;
    case EV_AOTP:
        dc_sb_append(out, "a_aotp");
        break;
    case EV_NCE:
        dc_sb_append(out, "(-lpy / _snll(z, lse))");
        break;
    case EV_MAE:
        dc_sb_append(out, "_c_mae(lpy)");
        break;
    case EV_NCERCE:
        dc_sb_printf(out, "(-lpy / _snll(z, lse) + %.4g * _c_rce(lpy))", n->p);
        break;
    case EV_NCEMAE:
        dc_sb_printf(out, "(-lpy / _snll(z, lse) + %.4g * _c_mae(lpy))", n->p);
        break;
    case EV_TAYLOR:
        dc_sb_printf(out, "_c_taylor(lpy, %d)", (int)n->p);
        break;
    case EV_POLY:
        dc_sb_printf(out, "_c_poly(lpy, %.4g)", n->p);
        break;
    case EV_FWD:
        dc_sb_printf(out, "_c_fwd(lpy, %.4g, z.shape[1])", n->p);
        break;
    case EV_SBOOT:
        dc_sb_printf(out, "(%.4g * -lpy + (1.0 - %.4g) * _ent(z, lse))", n->p, n->p);
        break;
    case EV_HBOOT:
        dc_sb_printf(out, "(%.4g * -lpy - (1.0 - %.4g) * (_max_z(z) - lse))", n->p, n->p);
        break;
    default:
        break;
    }
}

static void render_pref(const evolve_genome *g, const torch_needs *nd, dc_sb *o)
{
    dc_sb_append(o, "def _objective(pc, pr, rc, rr, beta, lw, ll):\n"
                    "    # x of each pair before batch centring: s·β·ρ − m\n");
    if (g->lennorm)
        dc_sb_append(o, "    lw = torch.clamp(lw, min=1.0)\n"
                        "    ll = torch.clamp(ll, min=1.0)\n");
    const char *dw = g->lennorm ? " / lw" : "", *dl = g->lennorm ? " / ll" : "";
    if (g->div != EV_DIV_RKL || nd->need_delta) {
        /* each side's log-ratio, through φ: u = s·β·φ(r) is BCO's implicit reward */
        if (g->ref)
            dc_sb_printf(o, "    rw = (pc - rc)%s\n    rl = (pr - rr)%s\n", dw, dl);
        else
            dc_sb_printf(o, "    rw = pc%s\n    rl = pr%s\n", dw, dl);
        if (g->div == EV_DIV_JS)
            dc_sb_append(o, "    # f-DPO, Jensen-Shannon: phi(r) = log sigmoid(r)\n"
                            "    rw = -_log1pexp(-rw)\n    rl = -_log1pexp(-rl)\n");
        else if (g->div == EV_DIV_ALPHA)
            dc_sb_printf(o, "    # f-DPO, alpha-divergence: phi(r) = -e^(-A·r) / A\n"
                            "    rw = -torch.exp(torch.clamp(-%.4g * rw, max=50.0)) / %.4g\n"
                            "    rl = -torch.exp(torch.clamp(-%.4g * rl, max=50.0)) / %.4g\n",
                         g->alpha, g->alpha, g->alpha, g->alpha);
        dc_sb_append(o, "    rho = rw - rl\n");
        if (nd->need_delta) {
            const char *sc = "";
            char buf[32];
            if (g->scale != 1.0) {
                snprintf(buf, sizeof buf, "%.4g * ", g->scale);
                sc = buf;
            }
            dc_sb_printf(o, "    uw = %sbeta * rw\n    ul = %sbeta * rl\n"
                            "    delta = (uw.sum() + ul.sum()) / (2 * uw.shape[0])\n", sc, sc);
        }
    } else if (g->ref) {
        dc_sb_printf(o, "    rho = (pc - rc)%s - (pr - rr)%s\n", dw, dl);
    } else {
        dc_sb_printf(o, "    rho = pc%s - pr%s\n", dw, dl);
    }
    dc_sb_append(o, "    x = ");
    if (g->scale != 1.0) dc_sb_printf(o, "%.4g * ", g->scale);
    dc_sb_append(o, "beta * rho");
    if (g->margin != 0.0) dc_sb_printf(o, " - (%.4g)", g->margin);
    dc_sb_append(o, "\n");
    if (nd->need_mean || g->centre != 0.0)
        dc_sb_append(o, "    n = x.shape[0]\n"
                        "    mean = x.sum() / n\n");
    if (nd->need_var)
        dc_sb_append(o, "    d = x - mean  # sample variance of x over the batch (0 for one pair)\n"
                        "    var = (d * d).sum() / (n - 1) if n > 1 else x.new_zeros(())\n");
    if (g->centre != 0.0) dc_sb_printf(o, "    x = x - %.4g * mean\n", g->centre);
    if (nd->aot || nd->aotp) {
        char sc[32] = "";
        if (g->scale != 1.0) snprintf(sc, sizeof sc, "%.4g * ", g->scale);
        if (nd->aotp) dc_sb_append(o, "    a_aotp = _aot(uw, ul)\n");
        if (nd->aot) {
            const char *w = g->lennorm ? " / lw" : "", *l = g->lennorm ? " / ll" : "";
            if (g->ref)
                dc_sb_printf(o, "    a_aot = _aot(%sbeta * (pc%s - pr%s), %sbeta * (rc%s - rr%s))\n", sc,
                             w, l, sc, w, l);
            else
                dc_sb_printf(o, "    a_aot = _aot(%sbeta * (pc%s - pr%s), torch.zeros_like(pc))\n", sc, w,
                             l);
        }
    }
    dc_sb_append(o, "    return ");
    expr(g, 0, o);
    dc_sb_append(o, "\n");
}

static void render_cls(const evolve_genome *g, dc_sb *o)
{
    dc_sb_append(o, "def _objective(logits, labels):\n");
    if (g->cmargin != 0.0)
        dc_sb_printf(o,
                     "    onehot = torch.zeros_like(logits).scatter_(1, labels[:, None], 1.0)\n"
                     "    z = (logits - %.4g * onehot) / %.4g  # margin on the label's logit, "
                     "temperature\n",
                     g->cmargin, g->temp);
    else
        dc_sb_printf(o, "    z = logits / %.4g  # temperature on the logits\n", g->temp);
    dc_sb_append(o, "    lse = torch.logsumexp(z, dim=1)\n"
                    "    lpy = z.gather(1, labels[:, None])[:, 0] - lse  # log p_y\n"
                    "    return ");
    expr(g, 0, o);
    dc_sb_append(o, "\n");
}

char *evolve_render_torch(const evolve_genome *g)
{
    char tree[1024];
    dc_sb o = {0};
    if (evolve_subtree_format(g, 0, tree, sizeof tree)) return NULL;
    torch_needs nd;
    memset(&nd, 0, sizeof nd);
    collect(g, 0, &nd);
    if (g->iface == SBX_PREF && g->div == EV_DIV_JS) nd.need[T_LOG1PEXP] = 1;

    dc_sb_append(
        &o, "# The loss as PyTorch tensor operations, rendered from the genome by discover's\n"
            "# offline proposer (evolve): autograd gives the gradient, any device and dtype.\n");
    if (g->iface == SBX_PREF)
        dc_sb_printf(&o, "#   x = %.4g·β·ρ − %.4g%s, ρ = %s log-ratio of chosen minus rejected%s\n",
                     g->scale, g->margin, g->centre != 0.0 ? " − c·mean_batch(x) (centred)" : "",
                     g->lennorm ? "per-token averaged" : "summed",
                     g->ref ? "" : " (no reference model)");
    else
        dc_sb_printf(&o, "#   p = softmax(z / %.4g)\n", g->temp);
    dc_sb_printf(&o, "#   loss = %s\n\n\n", tree);
    for (int h = 0; h < T_COUNT; h++)
        if (nd.need[h]) dc_sb_printf(&o, "%s\n\n", HELPERS[h]);
    if (g->iface == SBX_PREF)
        render_pref(g, &nd, &o);
    else
        render_cls(g, &o);
    return dc_sb_take(&o);
}
