/* vocab.h — the sentiment task's word-level tokenizer.
 *
 * Why words and not bytes: a model small enough for a CI run on two CPU cores writes byte
 * soup that the lexicon reward scores ≈ 0.5 whatever the policy learns; over a word
 * vocabulary every sample is made of real words, so the reward responds when preference
 * optimisation shifts the policy towards "great", "love", "not bad".
 *
 * Splitting (the same for counting, encoding and the corpus): ASCII letters are
 * lower-cased; a word is a run of letters, digits and bytes >= 128 (UTF-8), with an
 * apostrophe kept inside a word ("don't", "isn't": VADER's negations); every other
 * non-space byte is a token of its own ("!", ",", "."); a 0 byte counts as a space. Words longer than
 * SENT_VOCAB_WORD_MAX − 1 bytes are <unk>.
 *
 * Ids: 0 = end-of-text (also the BOS every sequence starts with, SENT_TOK_EOT), 1 = <unk>,
 * then the most frequent tokens of the training text, ties broken by byte order, so the
 * vocabulary is a pure function of its input text and size. Decoding joins tokens with
 * single spaces (what the lexicon reward reads), skipping end-of-text. */
#ifndef DC_SENT_VOCAB_H
#define DC_SENT_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#define SENT_TOK_EOT 0
#define SENT_TOK_UNK 1
#define SENT_VOCAB_WORD_MAX 32

typedef struct sent_vocab sent_vocab;

/* Counts tokens of texts added one by one, then keeps the `size` − 2 most frequent. */
typedef struct sent_vocab_counter sent_vocab_counter;
sent_vocab_counter *sent_vocab_counter_new(void);
/* Adds the tokens of text (len bytes) with the given weight (a count multiplier: review
 * sentences weigh more than fortunes so the vocabulary covers the reviews first). */
void sent_vocab_count(sent_vocab_counter *c, const char *text, size_t len, int weight);
/* The vocabulary of the `size` − 2 most frequent tokens (fewer when the text has fewer
 * distinct tokens); frees the counter. size >= 3. */
sent_vocab *sent_vocab_finish(sent_vocab_counter *c, int size);
void sent_vocab_free(sent_vocab *v);

/* Number of ids (including end-of-text and <unk>). */
int sent_vocab_size(const sent_vocab *v);
/* The text of an id ("<eot>", "<unk>", or the word); NULL when out of range. */
const char *sent_vocab_word(const sent_vocab *v, int id);
/* The id of one token text (already lower-case), SENT_TOK_UNK when absent. */
int sent_vocab_id(const sent_vocab *v, const char *word);
/* A hash of the word list: part of the cache keys of every stage built on it. */
uint64_t sent_vocab_hash(const sent_vocab *v);

/* Encodes text (len bytes) into at most cap ids; returns how many were written (extra
 * tokens are dropped). */
int sent_vocab_encode(const sent_vocab *v, const char *text, size_t len, int *out, int cap);
/* Decodes ids (end-of-text skipped) joined by single spaces into buf (NUL-terminated,
 * truncated to cap − 1 bytes at a token boundary); returns the length. */
int sent_vocab_decode(const sent_vocab *v, const int *ids, int n, char *buf, int cap);

#endif
