/* stop_signal.h — the one Ctrl-C handler of the program: the first SIGINT or SIGTERM sets a
 * flag that long loops poll (training stops at the next step, a campaign after the
 * candidate in flight), and restores the default action, so a second Ctrl-C kills at once. */
#ifndef DC_STOP_SIGNAL_H
#define DC_STOP_SIGNAL_H

#include <signal.h>

/* Installs the handler for SIGINT and SIGTERM; *flag becomes 1 on the first signal. */
void dc_stop_signal_install(volatile sig_atomic_t *flag);
/* Puts back the actions that were in place before dc_stop_signal_install. */
void dc_stop_signal_restore(void);

#endif
