/* test_sentiment_vocab.c — the word-level tokenizer of the sentiment task: splitting
 * (lower-case, punctuation tokens, apostrophes inside words, over-long words), frequency
 * order with byte-order ties, the size cap, <unk>, decoding with spaces, the reward of a
 * decoded sequence, and that the hash follows the word list. */
#include "tests/test.h"

#include "common/paths.h"
#include "inner_loop/sentiment/lexicon.h"
#include "inner_loop/sentiment/lm.h"
#include "inner_loop/sentiment/vocab.h"

#include <stdlib.h>

static sent_vocab *build(const char *text, int weight, const char *more, int size)
{
    sent_vocab_counter *c = sent_vocab_counter_new();
    sent_vocab_count(c, text, strlen(text), weight);
    if (more) sent_vocab_count(c, more, strlen(more), 1);
    return sent_vocab_finish(c, size);
}

static void test_split_and_order(void)
{
    // counts: "the" 3, "good" 2 (+1 from the second text, weight 1), "." 2, "isn't" 1, "!" 1,
    // "movie" 1 ("Movie" lower-cased), "a" 2
    const char *text = "The movie isn't good. THE good a a the.";
    sent_vocab *v = build(text, 1, "good !", 100);
    CHECK(sent_vocab_size(v) == 2 + 7);
    CHECK_STR(sent_vocab_word(v, SENT_TOK_EOT), "<eot>");
    CHECK_STR(sent_vocab_word(v, SENT_TOK_UNK), "<unk>");
    // order: count descending, then byte order: good 3, the 3 → "good" < "the";
    // "." 2, "a" 2 → "." < "a"; then "!" "isn't" "movie" with 1 each
    const char *want[] = {"good", "the", ".", "a", "!", "isn't", "movie"};
    for (int i = 0; i < 7; i++) CHECK_STR(sent_vocab_word(v, 2 + i), want[i]);
    CHECK(sent_vocab_word(v, 9) == NULL && sent_vocab_word(v, -1) == NULL);
    CHECK(sent_vocab_id(v, "movie") == 8);
    CHECK(sent_vocab_id(v, "film") == SENT_TOK_UNK);
    CHECK(sent_vocab_id(v, "<eot>") == SENT_TOK_UNK); // special texts are not words

    int ids[32];
    const char *in = "A GOOD movie, isn't it? 'the'";
    int n = sent_vocab_encode(v, in, strlen(in), ids, 32);
    // a good movie , isn't it ? ' the '   (trailing/leading apostrophes are punctuation)
    int expect[] = {5, 2, 8, SENT_TOK_UNK, 7, SENT_TOK_UNK, SENT_TOK_UNK, SENT_TOK_UNK, 3,
                    SENT_TOK_UNK};
    CHECK(n == 10);
    for (int i = 0; i < n && i < 10; i++) CHECK_MSG(ids[i] == expect[i], "token %d: %d", i, ids[i]);
    // cap: extra tokens are dropped
    CHECK(sent_vocab_encode(v, in, strlen(in), ids, 3) == 3 && ids[2] == 8);
    // an over-long word is <unk>, not a truncated word
    char longw[80];
    memset(longw, 'a', 60);
    longw[60] = '\0';
    CHECK(sent_vocab_encode(v, longw, strlen(longw), ids, 4) == 1 && ids[0] == SENT_TOK_UNK);

    // decoding: words joined by single spaces, end-of-text skipped
    int seq[] = {SENT_TOK_EOT, 3, 2, 4, SENT_TOK_EOT};
    char buf[64];
    CHECK(sent_vocab_decode(v, seq, 5, buf, sizeof buf) == (int)strlen("the good .") &&
          !strcmp(buf, "the good ."));
    // truncation at a token boundary
    CHECK(sent_vocab_decode(v, seq, 5, buf, 9) == 8 && !strcmp(buf, "the good"));
    sent_vocab_free(v);
}

static void test_cap_weight_hash(void)
{
    // weight makes the first text's words win over more frequent words of the second
    sent_vocab *a = build("great great", 8, "the the the the the the the the the", 3);
    CHECK(sent_vocab_size(a) == 3);
    CHECK_STR(sent_vocab_word(a, 2), "great");
    sent_vocab *b = build("great great", 1, "the the the the the the the the the", 3);
    CHECK_STR(sent_vocab_word(b, 2), "the");
    CHECK(sent_vocab_hash(a) != sent_vocab_hash(b));
    sent_vocab *c = build("great great", 8, "the the the the the the the the the", 3);
    CHECK(sent_vocab_hash(a) == sent_vocab_hash(c)); // deterministic
    sent_vocab_free(a);
    sent_vocab_free(b);
    sent_vocab_free(c);
}

static void test_reward_of_sequence(void)
{
    char path[4096], err[512];
    CHECK(dc_resource_path("data/sentiment/vader_lexicon.txt", path, sizeof path, err, sizeof err) == 0);
    dc_lexicon *lx = dc_lexicon_load(path, err, sizeof err);
    CHECK_MSG(lx != NULL, "%s", err);
    if (!lx) return;
    sent_vocab *v = build("this movie is not bad great terrible .", 1, NULL, 100);
    const char *text = "this movie is not bad .";
    int tok[16];
    tok[0] = SENT_TOK_EOT;
    int n = 1 + sent_vocab_encode(v, text, strlen(text), tok + 1, 15);
    tok[n++] = SENT_TOK_EOT;
    sent_seq s = {n, 3, tok};
    char buf[128];
    sent_seq_text(v, &s, buf, sizeof buf);
    CHECK_STR(buf, text);
    double r = sent_seq_reward(lx, v, &s);
    CHECK_NEAR(r, dc_lexicon_reward(lx, text, strlen(text)), 1e-12);
    CHECK(r > 0.5); // "not bad" is negated negativity
    dc_lexicon_free(lx);
    sent_vocab_free(v);
}

int main(void)
{
    test_split_and_order();
    test_cap_weight_hash();
    test_reward_of_sequence();
    return TEST_REPORT();
}
