/* reply_parse.h — turn an LLM's answer into {thought, name, code}, or say precisely what was wrong.
 *
 * The error text goes back to the LLM as the next feedback ("Code not valid. Error: ..."), so it
 * is short, names the place (line/column in the reply) and the key at fault. */
#ifndef DC_REPLY_PARSE_H
#define DC_REPLY_PARSE_H

#include "common/candidate_text.h"

#include <stddef.h>

#define DC_REPLY_NAME_MAX 64

/* Parses an LLM reply into {thought, name, code}. Tolerant: the JSON object may be wrapped in ```json fences or
   ``` fences, surrounded by prose (or a <think>...</think> block), contain literal newlines inside strings,
   trailing commas, or have code given with escaped "\n" (even doubly escaped), as an array of lines, or wrapped
   in its own ```c fence; if the JSON is broken but the reply has a fenced ```c block and a name, recover what is
   possible. Keys match case-insensitively; a missing "thought" becomes "".
   Returns 0 on success (all three fields non-NULL, caller frees with dc_candidate_text_free); -1 with a precise,
   short message for the LLM, e.g. "reply is not valid JSON: expected ',' or '}' at line 3 column 14",
   "JSON object has no \"code\" key (keys found: thought, name)", "\"code\" is empty",
   "\"name\" must be a short identifier" (names are normalised: trim, spaces→_, max 64 chars, [A-Za-z0-9_-]).
   On failure out's fields are NULL. */
int dc_reply_parse(const char *reply, dc_candidate_text *out, char *err, size_t errcap);

/* The name normalisation on its own: trim, runs of spaces and punctuation → one '_', other bytes outside
   [A-Za-z0-9_-] dropped, at most DC_REPLY_NAME_MAX chars. Returns 0, or -1 when nothing usable is left or
   the input is clearly not a name (longer than 200 chars or several lines). */
int dc_reply_normalise_name(const char *in, char *out, size_t cap);

#endif
