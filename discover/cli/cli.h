/* cli.h — what every `discover` subcommand shares: its entry-point signature, usage errors
 * in one format, and number parsing that rejects trailing garbage.
 *
 * Exit codes (all commands): 0 success / accepted, 1 usage or environment error (bad flag,
 * missing file, unreadable archive), 2 the candidate was rejected or failed. */
#ifndef DC_CLI_H
#define DC_CLI_H

#include <stddef.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_REJECTED = 2 };

/* Every command: argv[0] is the command name ("check"). */
typedef int (*dc_command_fn)(int argc, char **argv);

int cmd_check(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_campaigns(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_confirm(int argc, char **argv);

/* Prints a campaign's confirmed candidates and its winner by confirmed fitness (JSON on
 * stdout with json); EXIT_OK or an error's exit code. Shared by `confirm` and `run --confirm`. */
int cli_confirm_print(const char *cmd, const char *archive_path, const char *campaign, int json);

/* Prints "discover CMD: <message>" and "Try 'discover CMD --help'." to stderr; returns
 * EXIT_USAGE so callers can `return cli_usage_error(...)`. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "discover CMD: <message>" to stderr and returns EXIT_USAGE. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 when stdout is a terminal (tables, live status lines). */
int cli_stdout_is_tty(void);

#endif
