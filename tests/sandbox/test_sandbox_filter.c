/* test_sandbox_filter.c — the textual #include gate on its own (sanitized here, since the
 * worker that normally runs it is not): allowed spellings of <math.h> are blanked without
 * moving lines, everything that would read a file is refused, and text that only looks
 * like a directive (in strings, comments, mid-line) is left alone. */
#include "sandbox/source_filter.h"
#include "tests/test.h"

#include <string.h>

static int run(const char *src, char *out, char *msg)
{
    return sbx_filter_source(src, strlen(src), out, msg, 256);
}

static void accepts(const char *src, const char *want_out)
{
    char out[1024], msg[256] = "";
    int rc = run(src, out, msg);
    CHECK_MSG(rc == 0, "refused: %s (%s)", src, msg);
    if (want_out) CHECK_STR(out, want_out);
    if (rc == 0) CHECK(strlen(out) == strlen(src)); /* same length: line numbers kept */
}

static void refuses(const char *src, const char *msg_part)
{
    char out[1024], msg[256] = "";
    CHECK_MSG(run(src, out, msg) == -1, "accepted: %s", src);
    if (msg_part) CHECK_MSG(strstr(msg, msg_part) != NULL, "message '%s' lacks '%s'", msg, msg_part);
}

int main(void)
{
    accepts("#include <math.h>\nint x;\n", "                 \nint x;\n");
    accepts("  #  include \"math.h\"  // the math\nint x;\n", NULL);
    accepts("#include <math.h> /* ok */\n", NULL);
    accepts("const char *s = \"#include <stdio.h>\";\n", NULL);      /* in a string */
    accepts("/*\n#include <stdio.h>\n*/ int x;\n", NULL);             /* in a comment */
    accepts("// #include <stdio.h>\nint x;\n", NULL);
    accepts("int a; # include <stdio.h>\n", NULL); /* not at line start: not a directive */
    accepts("#define TWO 2\n#if TWO\nint x;\n#endif\n", NULL);
    accepts("const char *u = \"caf\xc3\xa9\";\n", NULL);                 /* UTF-8 */

    refuses("#include <stdio.h>\n", "line 1");
    refuses("int x;\n\n#include \"/etc/passwd\"\n", "line 3");
    refuses("#define F \"/etc/passwd\"\n#include F\n", "line 2");
    refuses("#inc\\\nlude <stdio.h>\n", NULL);
    refuses("#include \\\n\"/etc/passwd\"\n", NULL);
    refuses("#include <math.h> \\\n\"/etc/passwd\"\n", NULL);
    refuses("/**/#/**/include/**/\"/etc/passwd\"\n", NULL);
    refuses("%:include <stdio.h>\n", NULL);
    refuses("#include_next <math.h>\n", NULL);
    refuses("#import <math.h>\n", NULL);
    refuses("#embed \"/etc/passwd\"\n", NULL);
    refuses("#include <math.h>x\n", NULL);
    refuses("int x; /* \xff */\n", "UTF-8");
    refuses("\xc0\xaf\n", "UTF-8"); /* overlong '/' */
    {
        char out[64], msg[256];
        const char nul[] = "int x;\0#include <stdio.h>\n";
        CHECK(sbx_filter_source(nul, sizeof nul - 1, out, msg, sizeof msg) == -1);
        CHECK(strstr(msg, "NUL") != NULL);
    }
    return TEST_REPORT();
}
