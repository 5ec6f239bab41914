/* test_sentiment_reward.c — the lexicon reward model: accuracy on the 3×1000 labelled
 * sentences (compound ≥ 0 → positive; full VADER reaches 0.767 / 0.722 / 0.754, we require
 * ≥ 0.70 each) and the rules one by one on hand-made cases. */
#include "tests/test.h"

#include "common/paths.h"
#include "inner_loop/sentiment/data.h"
#include "inner_loop/sentiment/lexicon.h"

#include <stdlib.h>

static double C(const dc_lexicon *lx, const char *s) { return dc_lexicon_compound(lx, s, strlen(s)); }

int main(void)
{
    char path[4096], err[512], dir[4096];
    CHECK(dc_resource_path("data/sentiment/vader_lexicon.txt", path, sizeof path, err, sizeof err) == 0);
    dc_lexicon *lx = dc_lexicon_load(path, err, sizeof err);
    CHECK_MSG(lx != NULL, "%s", err);
    if (!lx) return TEST_REPORT();
    CHECK(dc_lexicon_size(lx) > 7000);
    CHECK_NEAR(dc_lexicon_valence(lx, "good"), 1.9, 1e-9);

    // negation and intensity
    double good = C(lx, "good"), not_good = C(lx, "not good"), very_good = C(lx, "very good");
    CHECK(not_good < good && good < very_good);
    CHECK(not_good < 0);
    CHECK_NEAR(good, 1.9 / sqrt(1.9 * 1.9 + 15), 1e-9); // normalisation: s / sqrt(s² + 15)
    CHECK_NEAR(very_good, (1.9 + 0.293) / sqrt(pow(1.9 + 0.293, 2) + 15), 1e-9);
    CHECK_NEAR(not_good, (1.9 * -0.74) / sqrt(pow(1.9 * 0.74, 2) + 15), 1e-9);
    CHECK(C(lx, "isn't good") < 0);
    CHECK(C(lx, "slightly good") < good); // dampener
    CHECK(C(lx, "bad") < 0 && C(lx, "very bad") < C(lx, "bad"));
    // "but": the clause after it dominates
    CHECK(C(lx, "The food was good but the service was terrible") < 0);
    CHECK(C(lx, "The food was terrible but the service was good") > 0);
    // emphasis: exclamation marks and mixed-case capitals
    CHECK(C(lx, "good!!!") > good);
    CHECK(C(lx, "the movie was GOOD") > C(lx, "the movie was good"));
    CHECK(C(lx, "") == 0.0 && C(lx, "the of and") == 0.0);
    CHECK_NEAR(dc_lexicon_reward(lx, "good", 4), 0.5 * (good + 1), 1e-12);
    CHECK(C(lx, "great great great great great great great great great great") <= 1.0);

    // accuracy on the labelled sentences
    CHECK(dc_resource_path("data/sentiment", dir, sizeof dir, err, sizeof err) == 0);
    for (int s = 0; s < 3; s++) {
        sent_reviews r = {0};
        char f[4200];
        snprintf(f, sizeof f, "%s/labelled_%s.json", dir, SENT_SOURCES[s]);
        CHECK_MSG(sent_reviews_load_file(f, s, &r, err, sizeof err) == 0, "%s", err);
        int correct = 0;
        for (int i = 0; i < r.n; i++) {
            int pred = C(lx, r.items[i].text) >= 0;
            correct += pred == r.items[i].label;
        }
        double acc = r.n ? (double)correct / r.n : 0;
        printf("%s: %d sentences, accuracy %.3f\n", SENT_SOURCES[s], r.n, acc);
        CHECK(r.n == 1000);
        CHECK_MSG(acc >= 0.70, "%s accuracy %.3f", SENT_SOURCES[s], acc);
        sent_reviews_free(&r);
    }
    // a missing file is named in the error
    sent_reviews none = {0};
    CHECK(sent_reviews_load_file("/nonexistent/labelled_x.json", 0, &none, err, sizeof err) != 0);
    CHECK(strstr(err, "/nonexistent/labelled_x.json") != NULL);
    dc_lexicon_free(lx);
    return TEST_REPORT();
}
