/* objective_adapter.c — see objective_adapter.h. */
#include "objective_adapter.h"

static dc_status call_cls(void *ctx, int n, int k, const double *logits, const int *labels,
                          double *loss, double *d_logits, char *msg, size_t msgcap)
{
    return sbx_cls_eval(ctx, n, k, logits, labels, loss, d_logits, msg, msgcap);
}

static dc_status call_pref(void *ctx, const pref_batch *b, double *loss, double *d_chosen,
                           double *d_rejected, char *msg, size_t msgcap)
{
    return sbx_pref_eval(ctx, b, loss, d_chosen, d_rejected, msg, msgcap);
}

static dc_status call_token(void *ctx, const token_pref_batch *b, int tokens_chosen,
                            int tokens_rejected, double *loss, double *d_chosen,
                            double *d_rejected, char *msg, size_t msgcap)
{
    return sbx_token_eval(ctx, b, tokens_chosen, tokens_rejected, loss, d_chosen, d_rejected, msg,
                          msgcap);
}

void sbx_objective(sbx_worker *w, dc_objective *out)
{
    out->ctx = w;
    out->cls = call_cls;
    out->pref = call_pref;
    out->token = call_token;
}
