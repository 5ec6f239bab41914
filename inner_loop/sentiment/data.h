/* data.h — the sentiment task's text: labelled review sentences (UCI "Sentiment Labelled
 * Sentences": IMDb, Yelp, Amazon), the fortunes corpus, the held-in / held-out split and
 * the prompts cut from the sentences. */
#ifndef DC_SENT_DATA_H
#define DC_SENT_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *text;  /* trimmed sentence */
    int label;   /* 0 negative, 1 positive */
    int source;  /* 0 imdb, 1 yelp, 2 amazon */
} sent_review;

typedef struct {
    sent_review *items;
    int n;
} sent_reviews;

extern const char *const SENT_SOURCES[3]; /* "imdb", "yelp", "amazon" */

/* Loads labelled_{imdb,yelp,amazon}.json from dir (the record with class null is skipped).
 * 0, or -1 with a message naming the file and what to do. */
int sent_reviews_load(const char *dir, sent_reviews *out, char *err, size_t errcap);
/* Loads one labelled_*.json file (appends to out). */
int sent_reviews_load_file(const char *path, int source, sent_reviews *out, char *err,
                           size_t errcap);
void sent_reviews_free(sent_reviews *r);

/* A review sentence is held out (never trained on, source of evaluation prompts) when a
 * hash of its text falls in the held-out tenth: stable across runs and machines. */
int sent_is_held_out(const char *text);

/* Reads every fortune file in dir (skipping *.dat, *.u8 and anything not a regular file,
 * in name order), splitting entries at lines holding only "%". Returns the entries
 * joined as bytes with a 0 byte between entries (the caller splits entries there), or NULL
 * with a message. */
uint8_t *sent_fortunes_load(const char *dir, size_t *len_out, int *entries_out, char *err,
                            size_t errcap);

#endif
