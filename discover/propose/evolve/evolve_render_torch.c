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
};

typedef struct {
    int need[T_COUNT];
    int need_mean, need_var;
} torch_needs;

static void collect(const evolve_genome *g, int i, torch_needs *nd)
{
    const evolve_node *n = &g->node[i];
    switch (n->op) {
    case EV_MIX:
        nd->need[T_BLEND] = 1;
        if (n->gate == EV_GATE_BVAR) nd->need_mean = nd->need_var = 1;
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
        else
            dc_sb_printf(out, "_blend(torch.sigmoid(var / (%.4g * %.4g)), ", n->p, n->p);
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
    if (g->ref)
        dc_sb_printf(o, "    rho = (pc - rc)%s - (pr - rr)%s\n", dw, dl);
    else
        dc_sb_printf(o, "    rho = pc%s - pr%s\n", dw, dl);
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
    dc_sb_append(o, "    return ");
    expr(g, 0, o);
    dc_sb_append(o, "\n");
}

static void render_cls(const evolve_genome *g, dc_sb *o)
{
    dc_sb_append(o, "def _objective(logits, labels):\n");
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
