/* test_sandbox_hostile.c — candidates that try to hang, crash, escape or cheat. Each must
 * end with its precise status while this process and its files stay untouched. */
#include "sbx_test_util.h"

#include <signal.h>
#include <time.h>

static char g_canary[512];

/* Checks the status of one hostile candidate, then that the canary survived. */
static void expect(const char *name, sbx_kind kind, const char *src, size_t len, dc_status want,
                   const char *msg_part)
{
    char msg[1024] = {0};
    dc_status st = sbx_test_check(kind, src, len, msg, sizeof msg);
    CHECK_MSG(st == want, "%s: got %s (%s), want %s", name, dc_status_name(st), msg,
              dc_status_name(want));
    if (msg_part)
        CHECK_MSG(strstr(msg, msg_part) != NULL, "%s: message '%s' lacks '%s'", name, msg,
                  msg_part);
    CHECK_MSG(canary_intact(g_canary), "%s: the canary file was touched", name);
}

#define EXPECT(name, src, want, part) expect(name, SBX_PREF, src, strlen(src), want, part)

/* A candidate whose objective makes one raw system call before writing losses. */
static void syscall_candidate(char *out, size_t cap, long nr, const char *args)
{
    snprintf(out, cap,
             "static const char path[] = \"%s\";\n"
             "void objective(const pref_batch *b, double *loss) {\n"
             "    long r;\n"
             "    %s\n"
             "    __asm__ volatile(\"syscall\" : \"=a\"(r) : \"a\"(%ldL), \"D\"(a0), \"S\"(a1), "
             "\"d\"(a2) : \"rcx\", \"r11\", \"memory\");\n"
             "    for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i] + (double)r;\n"
             "}\n",
             g_canary, args, nr);
}

int main(void)
{
    sbx_test_use_build_worker();
    char dir[256];
    if (!canary_make(dir, sizeof dir, g_canary, sizeof g_canary)) {
        fprintf(stderr, "cannot create the canary file\n");
        return 1;
    }
    char src[4096];

    /* ---- hangs and crashes ---- */
    EXPECT("infinite loop", "void objective(const pref_batch *b, double *loss) { for (;;) {} }",
           DC_TIMEOUT, "did not return");
    EXPECT("deep recursion",
           "static double f(double x) { volatile double pad[64]; pad[0] = x; return f(x + 1) + "
           "pad[0]; }\n"
           "void objective(const pref_batch *b, double *loss) {\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = f(b->chosen_logps[i]); }\n",
           DC_CRASH, "stack overflow");
    EXPECT("1 GB local array",
           "void objective(const pref_batch *b, double *loss) {\n"
           "  double big[134217728]; big[b->n] = 1.0;\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = big[i] * b->chosen_logps[i]; }\n",
           DC_CRASH, "SIGSEGV");
    EXPECT("integer division by zero",
           "void objective(const pref_batch *b, double *loss) {\n"
           "  int z = b->n - b->n;\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i] + b->n / z; }\n",
           DC_CRASH, "division by zero");

    /* ---- system calls (inline asm works even with -nostdlib) ---- */
    syscall_candidate(
        src, sizeof src, 2,
        "long a0 = (long)path, a1 = 01101, a2 = 0644; /* open O_WRONLY|O_CREAT|O_TRUNC */");
    EXPECT("asm open", src, DC_VIOLATION, "open");
    syscall_candidate(src, sizeof src, 1, "long a0 = 1, a1 = (long)path, a2 = 4;");
    EXPECT("asm write", src, DC_VIOLATION, "write");
    syscall_candidate(src, sizeof src, 87, "long a0 = (long)path, a1 = 0, a2 = 0;");
    EXPECT("asm unlink", src, DC_VIOLATION, "unlink");
    syscall_candidate(src, sizeof src, 57, "long a0 = 0, a1 = 0, a2 = 0;");
    EXPECT("asm fork", src, DC_VIOLATION, "fork");
    syscall_candidate(src, sizeof src, 59,
                      "static const char sh[] = \"/bin/sh\"; long a0 = (long)sh, a1 = 0, a2 = 0;");
    EXPECT("asm execve", src, DC_VIOLATION, "execve");
    char args[128];
    snprintf(args, sizeof args, "long a0 = %ld, a1 = 9, a2 = 0; /* kill(this test, SIGKILL) */",
             (long)getpid());
    syscall_candidate(src, sizeof src, 62, args);
    EXPECT("asm kill(parent)", src, DC_VIOLATION, "kill");
    syscall_candidate(src, sizeof src, 110, "long a0 = 0, a1 = 0, a2 = 0;");
    EXPECT("asm getppid", src, DC_VIOLATION, "getppid");
    /* The 32-bit ABI (int 0x80) must not be a way around the 64-bit filter. */
    EXPECT("int 0x80 write",
           "void objective(const pref_batch *b, double *loss) {\n"
           "  int r; __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(4), \"b\"(1), \"c\"(0), "
           "\"d\"(0) : \"memory\");\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i] + r; }\n",
           DC_VIOLATION, NULL);
    CHECK(kill(getpid(), 0) == 0); /* still here */

    /* ---- libc is not there ---- */
    EXPECT("system()",
           "int system(const char *);\n"
           "void objective(const pref_batch *b, double *loss) { system(\"rm -rf /tmp/x\");\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = 0; }\n",
           DC_VIOLATION, "system");
    EXPECT("fopen()",
           "void *fopen(const char *, const char *);\n"
           "void objective(const pref_batch *b, double *loss) { fopen(\"/etc/passwd\", \"r\");\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = 0; }\n",
           DC_VIOLATION, "fopen");
    EXPECT("malloc()",
           "void *malloc(unsigned long);\n"
           "void objective(const pref_batch *b, double *loss) { double *p = malloc(8 * b->n);\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = p[i]; }\n",
           DC_VIOLATION, "malloc");
    EXPECT("printf() undeclared",
           "void objective(const pref_batch *b, double *loss) { printf(\"hi\");\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = 0; }\n",
           DC_VIOLATION, "printf");

    /* ---- files through the preprocessor or the assembler ---- */
    EXPECT("include /etc/passwd", "#include \"/etc/passwd\"\n", DC_COMPILE_ERROR, "line 1");
    EXPECT("include /dev/zero", "#include </dev/zero>\n", DC_COMPILE_ERROR, "<math.h>");
    EXPECT("include /dev/stdin", "\n#include \"/dev/stdin\"\n", DC_COMPILE_ERROR, "line 2");
    EXPECT("include stdio", "#include <stdio.h>\n", DC_COMPILE_ERROR, "<math.h>");
    EXPECT("computed include", "#define H \"/etc/passwd\"\n#include H\n", DC_COMPILE_ERROR,
           "line 2");
    EXPECT("include split by a line continuation", "#inc\\\nlude \"/etc/passwd\"\n",
           DC_COMPILE_ERROR, NULL);
    EXPECT("include with a comment", "# /* hidden */ include \"/etc/passwd\"\n", DC_COMPILE_ERROR,
           NULL);
    EXPECT("math.h then more on the next line", "#include <math.h> /*\n*/ \"/etc/passwd\"\n",
           DC_COMPILE_ERROR, NULL);
    EXPECT("digraph include", "%:include \"/etc/passwd\"\n", DC_COMPILE_ERROR, NULL);
    EXPECT("include_next", "#include_next <math.h>\n", DC_COMPILE_ERROR, NULL);
    /* tcc's assembler can read files too: the seccomp stage-1 filter makes open fail. */
    EXPECT("asm .include", "__asm__(\".include \\\"/etc/passwd\\\"\");\n", DC_COMPILE_ERROR, NULL);
    EXPECT("asm .incbin", "__asm__(\".incbin \\\"/etc/passwd\\\"\");\n", DC_COMPILE_ERROR, NULL);

    /* Second layer: a worker built WITHOUT the textual filter still cannot read a file,
     * because seccomp stage 1 makes open fail (EACCES) while tcc runs. */
    {
        char inc[600], msg[1024];
        const char *saved = getenv("DISCOVER_WORKER");
        char saved_copy[512];
        snprintf(saved_copy, sizeof saved_copy, "%s", saved ? saved : "");
        setenv("DISCOVER_WORKER", DC_BUILD_DIR "/discover-sandbox-nofilter", 1);
        snprintf(inc, sizeof inc, "#include \"%s\"\n", g_canary);
        dc_status st = sbx_test_check(SBX_PREF, inc, strlen(inc), msg, sizeof msg);
        CHECK_MSG(st == DC_COMPILE_ERROR, "unfiltered include: got %s (%s)", dc_status_name(st),
                  msg);
        CHECK_MSG(strstr(msg, "canary:") == NULL, "the file's text leaked: %s", msg);
        CHECK_MSG(strstr(msg, "not found") != NULL, "message: %s", msg);
        snprintf(inc, sizeof inc, "#include \"/etc/passwd\"\n");
        st = sbx_test_check(SBX_PREF, inc, strlen(inc), msg, sizeof msg);
        CHECK_MSG(st == DC_COMPILE_ERROR && strstr(msg, "root") == NULL,
                  "unfiltered /etc/passwd: %s (%s)", dc_status_name(st), msg);
        setenv("DISCOVER_WORKER", saved_copy, 1);
    }

    /* a huge static array: the compiler hits the worker's memory limit, the host survives */
    EXPECT("1 GB static array",
           "static double big[134217728];\n"
           "void objective(const pref_batch *b, double *loss) {\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = big[i] + b->chosen_logps[i]; }\n",
           DC_COMPILE_ERROR, "memory");

    /* ---- the preprocessor as a bomb: a bounded failure, never a hang ---- */
    {
        char bomb[4096];
        size_t o = (size_t)snprintf(bomb, sizeof bomb, "#define A0 x+x\n");
        for (int i = 1; i <= 40; i++)
            o += (size_t)snprintf(bomb + o, sizeof bomb - o, "#define A%d A%d+A%d\n", i, i - 1,
                                  i - 1);
        snprintf(
            bomb + o, sizeof bomb - o,
            "void objective(const pref_batch *b, double *loss) { double x = 1; loss[0] = A40; }\n");
        char msg[1024];
        double t0 = (double)clock() / CLOCKS_PER_SEC;
        struct timespec a, z;
        clock_gettime(CLOCK_MONOTONIC, &a);
        dc_status st = sbx_test_check(SBX_PREF, bomb, strlen(bomb), msg, sizeof msg);
        clock_gettime(CLOCK_MONOTONIC, &z);
        double wall = (double)(z.tv_sec - a.tv_sec) + 1e-9 * (double)(z.tv_nsec - a.tv_nsec);
        (void)t0;
        CHECK_MSG(st == DC_TIMEOUT || st == DC_COMPILE_ERROR, "macro bomb: got %s (%s)",
                  dc_status_name(st), msg);
        CHECK_MSG(wall < 5.0, "macro bomb took %.1f s", wall);
    }

    /* ---- the compile watchdog fires: slow, memory-light, legal source ---- */
    {
        /* A13 expands to 8192 tokens; each `#if A13` makes the preprocessor expand and
         * evaluate them, then frees them (the whole check peaks at 12 MB RSS). 1,000 of
         * them take 1.7-2.0 s to compile on the 2-core VM (measured with `discover check`,
         * which accepts the file under its default 5 s limit), over 15 times the 0.1 s
         * limit below: only the host's watchdog can end this compile in time. The same
         * source with 4 of them compiles and passes, so it is the time, not an error or
         * the memory limit, that stops it. */
        size_t cap = 64 * 1024, o = 0;
        char *slow = malloc(cap);
        CHECK(slow != NULL);
        if (slow) {
            static const int counts[2] = {4, 1000};
            for (int c = 0; c < 2; c++) {
                int reps = counts[c];
                o = (size_t)snprintf(slow, cap, "#define A0 1\n");
                for (int i = 1; i <= 13; i++)
                    o += (size_t)snprintf(slow + o, cap - o, "#define A%d (A%d+A%d)\n", i, i - 1,
                                          i - 1);
                for (int r = 0; r < reps && o + 32 < cap; r++)
                    o += (size_t)snprintf(slow + o, cap - o, "#if A13\n#endif\n");
                o += (size_t)snprintf(
                    slow + o, cap - o,
                    "void objective(const pref_batch *b, double *loss) {\n"
                    "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i]; }\n");
                CHECK(o < cap);
                sbx_limits l;
                sbx_test_limits(&l);
                /* the control only shows the source is legal: it gets the usual budget */
                l.compile_timeout_s = reps == 4 ? l.compile_timeout_s : 0.1;
                sbx_worker *w = NULL;
                char msg[1024] = {0};
                struct timespec a, z;
                clock_gettime(CLOCK_MONOTONIC, &a);
                dc_status st = sbx_open(SBX_PREF, slow, o, &l, &w, msg, sizeof msg);
                clock_gettime(CLOCK_MONOTONIC, &z);
                double wall =
                    (double)(z.tv_sec - a.tv_sec) + 1e-9 * (double)(z.tv_nsec - a.tv_nsec);
                if (reps == 4) {
                    CHECK_MSG(st == DC_OK, "short slow-compile control: %s (%s)",
                              dc_status_name(st), msg);
                    if (w)
                        CHECK_MSG(sbx_prescreen(w, msg, sizeof msg) == DC_OK, "control: %s", msg);
                    sbx_close(w);
                    continue;
                }
                CHECK_MSG(st == DC_TIMEOUT && w == NULL, "slow compile: got %s (%s)",
                          dc_status_name(st), msg);
                /* This message comes only from the host's own deadline (map_death with
                 * we_killed): a SIGKILL from elsewhere would read "was killed" and be a
                 * crash, the CPU-time rlimit names that limit. */
                CHECK_MSG(strstr(msg, "compiling took longer than 0.1 s and was stopped") != NULL,
                          "slow compile message: %s", msg);
                /* it waited out the limit, then stopped the compile at once */
                CHECK_MSG(wall >= 0.1 && wall < 1.0, "slow compile ended after %.3f s", wall);
            }
            free(slow);
        }
        CHECK_MSG(canary_intact(g_canary), "slow compile: the canary file was touched");
    }

    /* ---- contract breaches ---- */
    EXPECT("NaN loss",
           "void objective(const pref_batch *b, double *loss) {\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i] * (0.0 / 0.0); }\n",
           DC_NONFINITE, "NaN");
    EXPECT("Inf loss",
           "void objective(const pref_batch *b, double *loss) {\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = exp(-1000 * b->chosen_logps[i]); }\n",
           DC_NONFINITE, "infinite");
    EXPECT(
        "NaN only for ties",
        "void objective(const pref_batch *b, double *loss) {\n"
        "  for (int i = 0; i < b->n; i++) { double d = b->chosen_logps[i] - b->rejected_logps[i];\n"
        "    loss[i] = d / fabs(d); } }\n",
        DC_NONFINITE, "tie probe");
    EXPECT("writes loss[n]",
           "void objective(const pref_batch *b, double *loss) {\n"
           "  for (int i = 0; i <= b->n; i++) loss[i] = b->chosen_logps[i % b->n]; }\n",
           DC_INVALID, "outside loss[0..n-1]");
    EXPECT("writes loss[-1]",
           "void objective(const pref_batch *b, double *loss) {\n"
           "  loss[-1] = 0; for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i]; }\n",
           DC_INVALID, "outside loss[0..n-1]");
    EXPECT("writes an input",
           "void objective(const pref_batch *b, double *loss) {\n"
           "  for (int i = 0; i < b->n; i++) { loss[i] = b->chosen_logps[i]; ((double "
           "*)b->ref_chosen_logps)[i] = 0; } }\n",
           DC_INVALID, "read-only");
    EXPECT("returns without writing",
           "void objective(const pref_batch *b, double *loss) { (void)b; (void)loss; }\n",
           DC_INVALID, "without writing");
    EXPECT("constant loss",
           "void objective(const pref_batch *b, double *loss) { for (int i = 0; i < b->n; i++) "
           "loss[i] = 0.7; }\n",
           DC_INVALID, "gradient is zero");
    /* A static counter cannot keep state: the candidate's memory is restored before every
     * call, so calls is 1 in each (and the objective is an ordinary, deterministic one). */
    EXPECT("static state between calls",
           "static double calls;\n"
           "void objective(const pref_batch *b, double *loss) { calls += 1;\n"
           "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i] * calls; }\n",
           DC_OK, NULL);
    /* A counter kept deep in the stack, out of the restore's reach: the pre-screen's repeated
     * probe sees different answers, or an audit by a fresh process does. */
    {
        const char *deep =
            "void objective(const pref_batch *b, double *loss) {\n"
            "  volatile double here = 0;\n"
            "  volatile double *calls = (volatile double *)((char *)&here - 262144);\n"
            "  *calls += 1;\n"
            "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i] * *calls; }\n";
        char msg[1024] = "";
        dc_status st = sbx_test_check(SBX_PREF, deep, strlen(deep), msg, sizeof msg);
        CHECK_MSG((st == DC_INVALID && strstr(msg, "state")) ||
                      (st == DC_VIOLATION && strstr(msg, "fresh copy")),
                  "stack-kept state: got %s (%s)", dc_status_name(st), msg);
    }
    EXPECT("exits the process",
           "void objective(const pref_batch *b, double *loss) { long r;\n"
           "  __asm__ volatile(\"syscall\" : \"=a\"(r) : \"a\"(231L), \"D\"(0L) : \"rcx\", "
           "\"r11\", \"memory\");\n"
           "  loss[0] = r; }\n",
           DC_CRASH, "exit status 0");

    /* ---- malformed sources ---- */
    {
        size_t big = 1u << 20;
        char *s = malloc(big + 1);
        memset(s, ' ', big);
        memcpy(s, "/* padding */", 13);
        s[big] = '\0';
        expect("1 MB source", SBX_PREF, s, big, DC_COMPILE_ERROR, "limit");
        free(s);
    }
    {
        const char bad[] = "void objective(const pref_batch *b, double *loss) { /* \xff\xfe */\n"
                           "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i]; }\n";
        expect("non-UTF-8", SBX_PREF, bad, sizeof bad - 1, DC_COMPILE_ERROR, "UTF-8");
        const char nul[] = "void objective(const pref_batch *b, double *loss) {\0 }\n";
        expect("NUL byte", SBX_PREF, nul, sizeof nul - 1, DC_COMPILE_ERROR, "NUL");
    }
    EXPECT("wrong name",
           "void objectve(const pref_batch *b, double *loss) { for (int i = 0; i < b->n; i++) "
           "loss[i] = b->chosen_logps[i]; }\n",
           DC_INVALID, "no function named objective");
    EXPECT("wrong signature",
           "void objective(const double *chosen, double *loss) { loss[0] = chosen[0]; }\n",
           DC_COMPILE_ERROR, "required signature");
    expect("classification signature for a preference task", SBX_CLS,
           "void objective(const pref_batch *b, double *loss) { loss[0] = b->beta; }\n",
           strlen("void objective(const pref_batch *b, double *loss) { loss[0] = b->beta; }\n"),
           DC_COMPILE_ERROR, "required signature");
    EXPECT("empty file", "", DC_INVALID, "no function named objective");
    EXPECT("syntax error on line 3",
           "\n\nvoid objective(const pref_batch *b, double *loss) { loss[0] = ; }\n",
           DC_COMPILE_ERROR, "objective.c:3:");

    CHECK(canary_intact(g_canary));
    unlink(g_canary);
    rmdir(dir);
    return TEST_REPORT();
}
