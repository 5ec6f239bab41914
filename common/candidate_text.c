/* candidate_text.c — see candidate_text.h. */
#include "candidate_text.h"

#include <stdlib.h>

void dc_candidate_text_free(dc_candidate_text *t)
{
    if (!t) return;
    free(t->name);
    free(t->thought);
    free(t->code);
    t->name = t->thought = t->code = NULL;
}
