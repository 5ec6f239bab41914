/* lexicon.h — the reward model: a VADER-style lexicon sentiment scorer (Hutto & Gilbert,
 * 2014) on the VADER lexicon, in C.
 *
 * Rules implemented (after vaderSentiment 3.3): word valences from the lexicon; booster /
 * dampener words within three words before a sentiment word (±0.293, decaying 1, 0.95,
 * 0.9); ALL-CAPS emphasis when the text mixes cases (±0.733); negation within three words
 * before (×−0.74; words such as "not", "never", anything with "n't"); "but" contrast
 * (sentiment before ×0.5, after ×1.5); "!" and "?" emphasis. compound = s / sqrt(s² + 15),
 * in [−1, 1]. Reward = P(positive) = (compound + 1) / 2. */
#ifndef DC_LEXICON_H
#define DC_LEXICON_H

#include <stddef.h>

typedef struct dc_lexicon dc_lexicon;

/* Loads vader_lexicon.txt (token TAB valence TAB ...). NULL with a message naming the
 * file on failure. */
dc_lexicon *dc_lexicon_load(const char *path, char *err, size_t errcap);
void dc_lexicon_free(dc_lexicon *lx);
/* Number of entries. */
int dc_lexicon_size(const dc_lexicon *lx);
/* Valence of one lower-case token, 0 when absent. */
double dc_lexicon_valence(const dc_lexicon *lx, const char *word);

/* Normalised compound score of a text (len bytes, need not be NUL-terminated). */
double dc_lexicon_compound(const dc_lexicon *lx, const char *text, size_t len);
/* (compound + 1) / 2 */
double dc_lexicon_reward(const dc_lexicon *lx, const char *text, size_t len);

#endif
