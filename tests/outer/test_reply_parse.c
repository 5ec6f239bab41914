/* test_reply_parse.c — dc_reply_parse on the shapes LLM replies really take, and each error text.
 * Expected values are written out by hand from the inputs (line/column counted by eye). */
#include "discover/propose/llm/reply_parse.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

static const char *CODE =
    "void objective(const pref_batch *b, double *loss) {\n"
    "    for (int i = 0; i < b->n; i++) loss[i] = 0.0;\n"
    "}";

/* Parses and checks all three fields. */
static void expect_ok(const char *reply, const char *thought, const char *name, const char *code, int line)
{
    dc_candidate_text f = {0};
    char err[256];
    int rc = dc_reply_parse(reply, &f, err, sizeof err);
    CHECK_MSG(rc == 0, "line %d: rc %d, error: %s", line, rc, err);
    if (rc != 0) return;
    CHECK_MSG(strcmp(err, "") == 0, "line %d: err should be empty: %s", line, err);
    CHECK_MSG(f.thought && strcmp(f.thought, thought) == 0, "line %d: thought = [%s]", line, f.thought);
    CHECK_MSG(f.name && strcmp(f.name, name) == 0, "line %d: name = [%s]", line, f.name);
    CHECK_MSG(f.code && strcmp(f.code, code) == 0, "line %d: code = [%s]", line, f.code);
    dc_candidate_text_free(&f);
    CHECK(f.thought == NULL && f.name == NULL && f.code == NULL);
}

/* Parses and checks that it fails with exactly this message (or this prefix when prefix = 1). */
static void expect_err(const char *reply, const char *msg, int prefix, int line)
{
    dc_candidate_text f = {0};
    char err[256];
    int rc = dc_reply_parse(reply, &f, err, sizeof err);
    CHECK_MSG(rc == -1, "line %d: expected failure, got rc %d", line, rc);
    int same = prefix ? strncmp(err, msg, strlen(msg)) == 0 : strcmp(err, msg) == 0;
    CHECK_MSG(same, "line %d: error\n  got:      %s\n  expected: %s", line, err, msg);
    CHECK_MSG(f.thought == NULL && f.name == NULL && f.code == NULL, "line %d: fields not NULL on failure", line);
    dc_candidate_text_free(&f);
}

static void test_well_formed(void)
{
    /* The canonical answer: code with JSON-escaped newlines. */
    expect_ok("{\"thought\": \"Mix logistic and exponential.\", \"name\": \"LogExpMix\", \"code\": "
              "\"void objective(const pref_batch *b, double *loss) {\\n    for (int i = 0; i < b->n; i++) "
              "loss[i] = 0.0;\\n}\"}",
              "Mix logistic and exponential.", "LogExpMix", CODE, __LINE__);
    /* Pretty-printed over several lines, keys in a different order and case, no thought. */
    expect_ok("{\n  \"Name\": \"zero\",\n  \"CODE\": \"int x;\"\n}", "", "zero", "int x;", __LINE__);
    /* Unicode escapes, including a surrogate pair, decode to UTF-8. */
    expect_ok("{\"thought\": \"caf\\u00e9 \\ud83d\\ude00\", \"name\": \"u\", \"code\": \"x\"}",
              "caf\xc3\xa9 \xf0\x9f\x98\x80", "u", "x", __LINE__);
    /* Duplicate key: the last one wins. */
    expect_ok("{\"name\": \"first\", \"name\": \"second\", \"code\": \"x\"}", "", "second", "x", __LINE__);
}

static void test_tolerated(void)
{
    /* ```json fence with prose before and after. */
    expect_ok("Here is my next idea.\n```json\n{\"thought\": \"t\", \"name\": \"n\", \"code\": \"c;\"}\n```\n"
              "Let me know the fitness!",
              "t", "n", "c;", __LINE__);
    /* Bare ``` fence. */
    expect_ok("```\n{\"thought\": \"t\", \"name\": \"n\", \"code\": \"c;\"}\n```", "t", "n", "c;", __LINE__);
    /* Prose around, with braces in the prose before the object. */
    expect_ok("I keep the margin {x} small and use a set {1, 2}. Answer:\n"
              "{\"thought\": \"t\", \"name\": \"n\", \"code\": \"c;\"}\nThanks.",
              "t", "n", "c;", __LINE__);
    /* Literal newlines and tabs inside the code string (invalid strict JSON). */
    expect_ok("{\"thought\": \"t\", \"name\": \"n\", \"code\": \"void objective(const pref_batch *b, double *loss) {\n"
              "    for (int i = 0; i < b->n; i++) loss[i] = 0.0;\n}\"}",
              "t", "n", CODE, __LINE__);
    /* Code escaped twice: "\\n" in the JSON, so no real line break after decoding. */
    expect_ok("{\"thought\": \"t\", \"name\": \"n\", \"code\": \"void objective(const pref_batch *b, double *loss) "
              "{\\\\n    for (int i = 0; i < b->n; i++) loss[i] = 0.0;\\\\n}\"}",
              "t", "n", CODE, __LINE__);
    /* Trailing commas and a // comment. */
    expect_ok("{\"thought\": \"t\", // why\n \"name\": \"n\", \"code\": \"c;\",}", "t", "n", "c;", __LINE__);
    /* Code as an array of lines. */
    expect_ok("{\"name\": \"n\", \"code\": [\"void objective(const pref_batch *b, double *loss) {\", "
              "\"    for (int i = 0; i < b->n; i++) loss[i] = 0.0;\", \"}\"]}",
              "", "n", CODE, __LINE__);
    /* Code wrapped in its own ```c fence inside the string. */
    expect_ok("{\"name\": \"n\", \"code\": \"```c\\nint x;\\n```\"}", "", "n", "int x;", __LINE__);
    /* A <think> block full of braces before the answer (reasoning models). */
    expect_ok("<think>Maybe {\"name\": \"draft\"} ... no, better: {\"code\": 1}</think>\n"
              "{\"thought\": \"t\", \"name\": \"final\", \"code\": \"c;\"}",
              "t", "final", "c;", __LINE__);
    /* The JSON object lacks "code" but the code follows in a ```c block. */
    expect_ok("{\"thought\": \"t\", \"name\": \"n\"}\n```c\nint y;\n```", "t", "n", "int y;", __LINE__);
    /* Unknown escape keeps its backslash; thought that is not a string is kept as JSON. */
    expect_ok("{\"thought\": [1, 2], \"name\": \"n\", \"code\": \"a\\d\"}", "[1,2]", "n", "a\\d", __LINE__);
}

static void test_recovery(void)
{
    /* Broken JSON (an unescaped quote in the code) but a ```c block and a "name" field. */
    expect_ok("{\"thought\": \"use exp\", \"name\": \"exp_loss\", \"code\": \"see below \"quoted\"\"}\n"
              "```c\nvoid objective(const pref_batch *b, double *loss) { }\n```",
              "use exp", "exp_loss", "void objective(const pref_batch *b, double *loss) { }", __LINE__);
    /* No JSON at all: a markdown answer with a Name line and a C block. */
    expect_ok("**Thought:** try hinge.\n**Name:** `Hinge Plus`\n\n```cpp\nint z;\n```\n", "", "Hinge_Plus", "int z;",
              __LINE__);
    /* A C block but no name anywhere: not recoverable; the JSON error is reported. */
    expect_err("{\"thought\": \"x\" \"code\": 1}\n```c\nint z;\n```",
               "reply is not valid JSON: expected ',' or '}' at line 1 column 17", 0, __LINE__);
}

static void test_errors(void)
{
    /* Missing comma between members, on line 2. */
    expect_err("{\"thought\": \"x\", \"name\": \"a\"\n \"code\": \"y\"}",
               "reply is not valid JSON: expected ',' or '}' at line 2 column 2", 0, __LINE__);
    /* The same error deep in a fenced block: lines count from the start of the reply. */
    expect_err("Sure!\n```json\n{\"thought\": \"x\",\n \"name\" \"a\", \"code\": \"y\"}\n```",
               "reply is not valid JSON: expected ':' after the key \"name\" at line 4 column 9", 0, __LINE__);
    /* Cut short (max_tokens hit) inside the code string. */
    expect_err("{\"thought\": \"x\", \"name\": \"a\", \"code\": \"void objective(",
               "reply is not valid JSON: unterminated string (is the reply cut short?) starting at line 1 column 39", 0,
               __LINE__);
    expect_err("{\"thought\": \"t\", \"name\": \"n\"}", "JSON object has no \"code\" key (keys found: thought, name)", 0,
               __LINE__);
    expect_err("{\"thought\": \"t\", \"code\": \"c;\"}", "JSON object has no \"name\" key (keys found: thought, code)", 0,
               __LINE__);
    expect_err("{\"thought\": \"t\", \"name\": \"n\", \"code\": \"  \\n\\t \"}", "\"code\" is empty", 0, __LINE__);
    expect_err("{\"thought\": \"t\", \"name\": \"n\", \"code\": null}", "\"code\" is empty", 0, __LINE__);
    expect_err("{\"thought\": \"t\", \"name\": \"n\", \"code\": 5}", "\"code\" must be a string", 0, __LINE__);
    expect_err("{\"thought\": \"t\", \"name\": \"!!!\", \"code\": \"c;\"}", "\"name\" must be a short identifier", 1,
               __LINE__);
    expect_err("{\"thought\": \"t\", \"name\": \"two\\nlines\", \"code\": \"c;\"}", "\"name\" must be a short identifier",
               1, __LINE__);
    expect_err("{\"thought\": \"t\", \"name\": 7, \"code\": \"c;\"}", "\"name\" must be a string", 0, __LINE__);
    expect_err("   \n ", "reply is empty", 1, __LINE__);
    expect_err(NULL, "reply is empty", 1, __LINE__);
    expect_err("I am sorry, I cannot help with that.", "reply contains no JSON object", 1, __LINE__);
    expect_err("{\"a\": 1} and {\"b\": 2}", "JSON object has no \"code\" key (keys found: a)", 0, __LINE__);
    expect_err("{\"name\": \"n\", \"code\": @}",
               "reply is not valid JSON: unexpected '@' where a value was expected at line 1 column 23", 0, __LINE__);
}

static void test_names(void)
{
    char out[DC_REPLY_NAME_MAX + 1];
    CHECK(dc_reply_normalise_name("  Log Ratio  Mix ", out, sizeof out) == 0);
    CHECK_STR(out, "Log_Ratio_Mix");
    CHECK(dc_reply_normalise_name("a.b(c)+d-e", out, sizeof out) == 0);
    CHECK_STR(out, "a_b_c_d-e");
    CHECK(dc_reply_normalise_name("`DiscoPOP`", out, sizeof out) == 0);
    CHECK_STR(out, "DiscoPOP");
    CHECK(dc_reply_normalise_name("caf\xc3\xa9_loss", out, sizeof out) == 0);
    CHECK_STR(out, "caf_loss");
    char longname[101];
    memset(longname, 'x', 100);
    longname[100] = '\0';
    CHECK(dc_reply_normalise_name(longname, out, sizeof out) == 0);
    CHECK(strlen(out) == DC_REPLY_NAME_MAX);
    char huge[302];
    memset(huge, 'y', 301);
    huge[301] = '\0';
    CHECK(dc_reply_normalise_name(huge, out, sizeof out) == -1);
    CHECK(dc_reply_normalise_name("\xf0\x9f\x98\x80", out, sizeof out) == -1);
    CHECK(dc_reply_normalise_name("   ", out, sizeof out) == -1);
    /* Through the parser: normalised, not rejected. */
    expect_ok("{\"name\": \" Adaptive Quantile Loss \", \"code\": \"c;\"}", "", "Adaptive_Quantile_Loss", "c;", __LINE__);
}

int main(void)
{
    test_well_formed();
    test_tolerated();
    test_recovery();
    test_errors();
    test_names();
    return TEST_REPORT();
}
