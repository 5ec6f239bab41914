/* host_internal.h — what the host-side files of dc_sandbox share (not public API). */
#ifndef DC_SBX_HOST_INTERNAL_H
#define DC_SBX_HOST_INTERNAL_H

#include "protocol.h"
#include "sandbox.h"

#include <stdint.h>
#include <sys/types.h>

struct sbx_worker {
    pid_t pid;            /* > 0 while the process exists (not yet reaped) */
    int sock;             /* doorbell, -1 once closed */
    unsigned char *shm;   /* the shared block */
    sbx_layout layout;
    sbx_header *h;
    sbx_kind kind;
    sbx_limits lim;
    int separable;        /* decided by sbx_prescreen; selects the fast gradient path */
    int has_grad_fn;      /* the candidate defines objective_grad (the worker says so) */
    int use_grad_fn;      /* sbx_prescreen found it agrees with central differences */
    char grad_note[384];  /* why an objective_grad is not used, "" otherwise */
    dc_status dead;       /* DC_OK while usable; the sticky failure afterwards */
    char dead_msg[512];
    uint32_t seq;
    double seconds;       /* inside sbx_*_eval */
};

/* Copies src into dst (cap bytes), always terminated. */
void sbx_copy_msg(char *dst, size_t cap, const char *src);

#endif
