/* candidate_text.h — the three texts of a candidate objective, as a proposer writes them and
 * the archive keeps them: one struct for every stage (an LLM reply, an offline proposal, a
 * seed baseline). */
#ifndef DC_CANDIDATE_TEXT_H
#define DC_CANDIDATE_TEXT_H

typedef struct {
    char *name;    /* short identifier, e.g. "logistic_margin_3f2a" */
    char *thought; /* why the proposer wrote it (may be "") */
    char *code;    /* the C source defining objective() */
} dc_candidate_text;

/* Frees the three strings and zeroes t (NULL is allowed). */
void dc_candidate_text_free(dc_candidate_text *t);

#endif
