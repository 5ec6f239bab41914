/* prompt.h — prompt templates (the files in prompts/) and the conversation sent to the LLM.
 *
 * The conversation is rebuilt from the archive before every proposal, so a resumed
 * campaign continues exactly where it stopped. Two context strategies:
 *   full      DiscoPOP's: the system prompt, the seed results, then every earlier reply
 *             and its feedback in order;
 *   budgeted  one user message with the best K candidates, the last M attempts and recent
 *             failures, shrunk until it fits a token budget. */
#ifndef DC_PROMPT_H
#define DC_PROMPT_H

#include "archive/archive.h"
#include "discover/propose/llm/llm_client.h"

#include <stddef.h>

typedef struct {
    char dir[4096]; /* folder holding the template files */
} dc_prompts;

/* Uses dir, or the installed/source prompts/ when dir is NULL; checks every template exists
 * and uses only known placeholders. */
int dc_prompts_open(dc_prompts *p, const char *dir, char *err, size_t errcap);

/* Renders template `file` with n key/value pairs. Every {{key}} in the template must be
 * given. NULL with a message on error. */
char *dc_prompt_render(const dc_prompts *p, const char *file, const char *const *keys,
                       const char *const *vals, int n, char *err, size_t errcap);

/* The system prompt template of a prompt style (--prompt-style): "discover" or "" is the
 * task's own file (system_fashion.txt); "discopop" is DiscoPOP's shorter prompt, the same
 * name with _discopop before .txt (system_fashion_discopop.txt). Writes the file name to
 * out; -1 with a message when the style is unknown or p's folder lacks the file. */
int dc_prompt_style_file(const dc_prompts *p, const char *style, const char *task_file, char *out,
                         size_t cap, char *err, size_t errcap);

typedef enum { DC_CONTEXT_FULL = 0, DC_CONTEXT_BUDGETED = 1 } dc_context_strategy;

typedef struct {
    dc_context_strategy strategy;
    int top_k;        /* budgeted: best candidates shown with code (default 5) */
    int recent;       /* budgeted: most recent attempts shown (default 3) */
    int failures;     /* budgeted: recent failures listed (default 5) */
    int token_budget; /* budgeted: approximate limit on the user message (default 6000) */
} dc_context_cfg;
void dc_context_default(dc_context_cfg *c);
int dc_context_parse(const char *name, dc_context_strategy *out);

/* Feedback text for one finished candidate (what the LLM reads after its reply). For a
 * duplicate, original_fitness is the original's score, NaN when it has none. */
char *dc_prompt_feedback(const dc_prompts *p, const arc_candidate *c, const char *original_name,
                         double original_fitness, char *err, size_t errcap);

/* A conversation: messages own their text. */
typedef struct {
    int n, cap;
    char **role;
    char **content;
} dc_conversation;
void dc_conversation_free(dc_conversation *c);
/* View as llm_message[] (pointers into c, valid while c lives); caller frees the array. */
llm_message *dc_conversation_view(const dc_conversation *c);

/* Builds the conversation for the next proposal from the campaign's archived candidates
 * (id order, with code). system_prompt: the task's template ("system_fashion.txt"); beta
 * fills its {{beta}}. */
int dc_prompt_conversation(const dc_prompts *p, archive *a, const char *system_prompt, double beta,
                           const char *fitness_description, const dc_context_cfg *ctx,
                           const arc_candidate *cands, int ncands, dc_conversation *out,
                           char *err, size_t errcap);

/* The assistant text of a proposal: the raw reply when it came from an LLM, otherwise the
 * JSON object {"thought","name","code"} a model would have written. */
char *dc_proposal_json(const char *thought, const char *name, const char *code);

/* Extracts choices[0].message.content from a raw chat-completions body; NULL if absent. */
char *dc_completion_content(const char *response_raw);

#endif
