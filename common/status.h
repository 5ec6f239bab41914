/* status.h — the outcome of anything that runs a candidate objective.
 *
 * One enum shared by the sandbox, the inner loops, the archive and the outer loop, so a
 * status travels from the worker process to the archive and the LLM's feedback unchanged.
 * The names (dc_status_name) are part of the user interface: `discover check --json`
 * prints them and the archive stores them. */
#ifndef DC_STATUS_H
#define DC_STATUS_H

typedef enum {
    DC_OK = 0,
    DC_COMPILE_ERROR, /* libtcc rejected the source, or a disallowed #include */
    DC_VIOLATION,     /* forbidden system call (seccomp) or a symbol the sandbox does not provide */
    DC_CRASH,         /* the worker died of a signal: segfault, stack overflow, SIGFPE, ... */
    DC_TIMEOUT,       /* compile or a call ran past its budget (the parent killed it) */
    DC_NONFINITE,     /* a loss or gradient was NaN/Inf (pre-screen or mid-training) */
    DC_INVALID,       /* runs but breaks the contract: rows not written, constant, nondeterministic */
    DC_DUPLICATE,     /* same code or same behaviour as an archived candidate */
    DC_PARSE_ERROR,   /* the LLM reply could not be parsed into {thought, name, code} */
    DC_INTERRUPTED,   /* the user stopped the run (Ctrl-C) while this candidate was in flight */
    DC_ERROR,         /* infrastructure failure (not the candidate's fault): I/O, out of memory */
    DC_PENDING,       /* archived, not yet evaluated (the only state that is not final) */
    DC_STATUS_COUNT
} dc_status;

/* "ok", "compile_error", ... ; never NULL. */
const char *dc_status_name(dc_status s);
/* Parses a name back; returns -1 when unknown. */
int dc_status_parse(const char *name);
/* 1 when a candidate in this state (by name) is done: not pending, not interrupted. */
int dc_status_is_final(const char *name);

#endif
