#include "cli.h"

#include "common/safe_text.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Error messages carry file and campaign names and sandbox or LLM text: they are printed
 * escaped (dc_safe_text), keeping only the line breaks. */
static void print_error(const char *cmd, const char *fmt, va_list ap)
{
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "discover %s: ", cmd);
    dc_safe_fputs(msg, DC_SAFE_BLOCK, stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_error(cmd, fmt, ap);
    fprintf(stderr, "\nTry 'discover %s --help'.\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_error(cmd, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_stdout_is_tty(void) { return isatty(STDOUT_FILENO); }
