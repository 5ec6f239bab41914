/* stop_signal.c — see stop_signal.h. */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include "stop_signal.h"

#include <string.h>

static volatile sig_atomic_t *stop_flag;
static struct sigaction old_int, old_term;
static int installed;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_flag) *stop_flag = 1;
}

void dc_stop_signal_install(volatile sig_atomic_t *flag)
{
    stop_flag = flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; // a second signal takes the default action: stop at once
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    installed = 1;
}

void dc_stop_signal_restore(void)
{
    if (!installed) return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    installed = 0;
    stop_flag = NULL;
}
