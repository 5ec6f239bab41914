/* objective_adapter.h — lets a trainer use a sandbox worker as its dc_objective
 * (inner_loop/task.h), so training code never needs to know about processes. */
#ifndef DC_SBX_OBJECTIVE_ADAPTER_H
#define DC_SBX_OBJECTIVE_ADAPTER_H

#include "inner_loop/task.h"
#include "sandbox.h"

/* Fills *out so that out->pref / out->cls / out->token call sbx_pref_eval / sbx_cls_eval /
 * sbx_token_eval on w (the
 * callback that does not match w's interface answers DC_ERROR). w must outlive *out. */
void sbx_objective(sbx_worker *w, dc_objective *out);

#endif
