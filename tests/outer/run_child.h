/* run_child.h — run the built `discover` binary from a test, bounded in time. */
#ifndef DC_TEST_RUN_CHILD_H
#define DC_TEST_RUN_CHILD_H

#include <sys/types.h>

/* Path of the built discover binary (DC_BUILD_DIR is compiled into tests). */
const char *discover_bin(void);

/* Runs argv (argv[0] is the program) with extra environment entries ("K=V", NULL-ended),
 * waits at most timeout_s, captures stdout (and stderr when err_out is non-NULL) as
 * malloc'ed strings. Returns the exit status, 128+signal when killed, -1 on timeout (the
 * child is then killed). */
int run_child(char *const argv[], char *const env_extra[], double timeout_s, char **out,
              char **err_out);

/* Starts argv in the background (stdout/stderr to /dev/null); returns its pid. */
pid_t spawn_child(char *const argv[], char *const env_extra[]);

#endif
