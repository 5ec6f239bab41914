/* lexicon.c — VADER-style rule-based sentiment (see lexicon.h for the rules kept). */
#include "lexicon.h"

#include "common/util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B_INCR 0.293
#define B_DECR (-0.293)
#define C_INCR 0.733
#define N_SCALAR (-0.74)
#define WORD_MAX 48

typedef struct {
    char *word;
    double valence;
} lex_entry;

struct dc_lexicon {
    lex_entry *slots; /* open addressing, power-of-two capacity */
    size_t cap;
    int count;
};

static const char *const NEGATE[] = {
    "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt", "ain't", "aren't",
    "can't", "couldn't", "daren't", "didn't", "doesn't", "dont", "hadnt", "hasnt", "havent",
    "isnt", "mightnt", "mustnt", "neither", "don't", "hadn't", "hasn't", "haven't", "isn't",
    "mightn't", "mustn't", "neednt", "needn't", "never", "none", "nope", "nor", "not", "nothing",
    "nowhere", "oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent", "oughtn't", "shan't",
    "shouldn't", "uh-uh", "wasn't", "weren't", "without", "wont", "wouldnt", "won't", "wouldn't",
    "rarely", "seldom", "despite", NULL};

static const char *const BOOST_UP[] = {
    "absolutely", "amazingly", "awfully", "completely", "considerable", "considerably",
    "decidedly", "deeply", "effing", "enormous", "enormously", "entirely", "especially",
    "exceptional", "exceptionally", "extreme", "extremely", "fabulously", "flipping", "flippin",
    "frackin", "fracking", "fricking", "frickin", "frigging", "friggin", "fully", "fuckin",
    "fucking", "fuggin", "fugging", "greatly", "hella", "highly", "hugely", "incredible",
    "incredibly", "intensely", "major", "majorly", "more", "most", "particularly", "purely",
    "quite", "really", "remarkably", "so", "substantially", "thoroughly", "total", "totally",
    "tremendous", "tremendously", "uber", "unbelievably", "unusually", "utter", "utterly", "very",
    NULL};

static const char *const BOOST_DOWN[] = {
    "almost", "barely", "hardly", "kinda", "kindof", "kind-of", "less", "little", "marginal",
    "marginally", "occasional", "occasionally", "partly", "scarce", "scarcely", "slight",
    "slightly", "somewhat", "sorta", "sortof", "sort-of", NULL};

static int in_list(const char *const *list, const char *w)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], w) == 0) return 1;
    return 0;
}

static size_t slot_of(const dc_lexicon *lx, const char *w)
{
    size_t h = (size_t)dc_hash64(w, strlen(w), 0) & (lx->cap - 1);
    while (lx->slots[h].word && strcmp(lx->slots[h].word, w) != 0) h = (h + 1) & (lx->cap - 1);
    return h;
}

dc_lexicon *dc_lexicon_load(const char *path, char *err, size_t errcap)
{
    size_t len = 0;
    char *text = dc_read_file(path, 0, &len, err, errcap);
    if (!text) return NULL;
    dc_lexicon *lx = dc_calloc(1, sizeof *lx);
    lx->cap = 16384;
    lx->slots = dc_calloc(lx->cap, sizeof *lx->slots);
    int lineno = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *tab = strchr(line, '\t');
        if (!tab) continue; // blank or malformed trailing line
        *tab = '\0';
        char *end = NULL;
        double v = strtod(tab + 1, &end);
        if (end == tab + 1 || !isfinite(v)) {
            dc_fmt(err, errcap, "%s line %d: valence is not a number; the file must hold "
                   "'token<TAB>valence<TAB>...' lines (VADER's vader_lexicon.txt)", path, lineno);
            dc_lexicon_free(lx);
            free(text);
            return NULL;
        }
        if ((size_t)lx->count * 2 >= lx->cap) break; // cannot happen with VADER's 7.5k lines
        size_t s = slot_of(lx, line);
        if (!lx->slots[s].word) {
            lx->slots[s].word = dc_strdup(line);
            lx->count++;
        }
        lx->slots[s].valence = v;
    }
    free(text);
    if (lx->count < 100) {
        dc_fmt(err, errcap, "%s holds only %d lexicon entries; expected VADER's ~7,500", path,
               lx->count);
        dc_lexicon_free(lx);
        return NULL;
    }
    return lx;
}

void dc_lexicon_free(dc_lexicon *lx)
{
    if (!lx) return;
    for (size_t i = 0; i < lx->cap; i++) free(lx->slots[i].word);
    free(lx->slots);
    free(lx);
}

int dc_lexicon_size(const dc_lexicon *lx) { return lx->count; }

static int lex_find(const dc_lexicon *lx, const char *w, double *v)
{
    size_t s = slot_of(lx, w);
    if (!lx->slots[s].word) return 0;
    if (v) *v = lx->slots[s].valence;
    return 1;
}

double dc_lexicon_valence(const dc_lexicon *lx, const char *word)
{
    double v = 0.0;
    return lex_find(lx, word, &v) ? v : 0.0;
}

typedef struct {
    char raw[WORD_MAX];   /* as written (after punctuation stripping) */
    char lower[WORD_MAX];
    int upper;            /* all cased letters upper-case (Python's str.isupper) */
} word;

/* VADER's tokenisation: whitespace split; strip surrounding punctuation unless that leaves
 * two characters or fewer (emoticons such as ":)" survive); drop one-character tokens. */
static int tokenize(const char *text, size_t len, word **out)
{
    int n = 0, cap = 16;
    word *w = dc_malloc((size_t)cap * sizeof *w);
    size_t i = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)text[i])) i++;
        size_t s = i;
        while (i < len && !isspace((unsigned char)text[i])) i++;
        size_t e = i;
        if (e == s) break;
        size_t ps = s, pe = e;
        while (ps < pe && ispunct((unsigned char)text[ps])) ps++;
        while (pe > ps && ispunct((unsigned char)text[pe - 1])) pe--;
        if (pe - ps <= 2) {
            ps = s;
            pe = e;
        }
        if (pe - ps <= 1) continue;
        if (pe - ps >= WORD_MAX) pe = ps + WORD_MAX - 1;
        if (n == cap) {
            cap *= 2;
            w = dc_realloc(w, (size_t)cap * sizeof *w);
        }
        word *t = &w[n++];
        int cased = 0, lowers = 0;
        for (size_t k = ps; k < pe; k++) {
            unsigned char ch = (unsigned char)text[k];
            t->raw[k - ps] = (char)ch;
            t->lower[k - ps] = (char)tolower(ch);
            if (isalpha(ch)) {
                cased++;
                if (islower(ch)) lowers++;
            }
        }
        t->raw[pe - ps] = t->lower[pe - ps] = '\0';
        t->upper = cased > 0 && lowers == 0;
    }
    *out = w;
    return n;
}

static int negated(const char *w)
{
    return in_list(NEGATE, w) || strstr(w, "n't") != NULL;
}

static double scalar_inc_dec(const word *w, double valence, int cap_diff)
{
    double scalar = 0.0;
    if (in_list(BOOST_UP, w->lower)) scalar = B_INCR;
    else if (in_list(BOOST_DOWN, w->lower)) scalar = B_DECR;
    else return 0.0;
    if (valence < 0) scalar = -scalar;
    if (w->upper && cap_diff) scalar += valence > 0 ? C_INCR : -C_INCR;
    return scalar;
}

static double negation_check(double valence, const word *w, int start_i, int i)
{
    const char *w1 = w[i - 1].lower;
    if (start_i == 0) {
        if (negated(w1)) valence *= N_SCALAR;
    } else if (start_i == 1) {
        const char *w2 = w[i - 2].lower;
        if (strcmp(w2, "never") == 0 && (strcmp(w1, "so") == 0 || strcmp(w1, "this") == 0))
            valence *= 1.25;
        else if (strcmp(w2, "without") == 0 && strcmp(w1, "doubt") == 0)
            ;
        else if (negated(w2))
            valence *= N_SCALAR;
    } else {
        const char *w2 = w[i - 2].lower, *w3 = w[i - 3].lower;
        if ((strcmp(w3, "never") == 0 && (strcmp(w2, "so") == 0 || strcmp(w2, "this") == 0)) ||
            strcmp(w1, "so") == 0 || strcmp(w1, "this") == 0)
            valence *= 1.25;
        else if (strcmp(w3, "without") == 0 &&
                 (strcmp(w2, "doubt") == 0 || strcmp(w1, "doubt") == 0))
            ;
        else if (negated(w3))
            valence *= N_SCALAR;
    }
    return valence;
}

static double word_valence(const dc_lexicon *lx, const word *w, int n, int i, int cap_diff)
{
    double valence = 0.0;
    if (!lex_find(lx, w[i].lower, &valence)) return 0.0;
    double base = valence;
    // "no" directly before another lexicon word is a negation, not a sentiment of its own
    if (strcmp(w[i].lower, "no") == 0 && i + 1 < n && lex_find(lx, w[i + 1].lower, NULL))
        valence = 0.0;
    if ((i > 0 && strcmp(w[i - 1].lower, "no") == 0) ||
        (i > 1 && strcmp(w[i - 2].lower, "no") == 0) ||
        (i > 2 && strcmp(w[i - 3].lower, "no") == 0 &&
         (strcmp(w[i - 1].lower, "or") == 0 || strcmp(w[i - 1].lower, "nor") == 0)))
        valence = base * N_SCALAR;
    if (w[i].upper && cap_diff) valence += valence > 0 ? C_INCR : -C_INCR;
    for (int start_i = 0; start_i < 3; start_i++) {
        if (i > start_i && !lex_find(lx, w[i - (start_i + 1)].lower, NULL)) {
            double s = scalar_inc_dec(&w[i - (start_i + 1)], valence, cap_diff);
            if (start_i == 1) s *= 0.95;
            if (start_i == 2) s *= 0.9;
            valence += s;
            valence = negation_check(valence, w, start_i, i);
        }
    }
    // "least": "at least"/"very least" are not negations
    if (i > 1 && !lex_find(lx, w[i - 1].lower, NULL) && strcmp(w[i - 1].lower, "least") == 0) {
        if (strcmp(w[i - 2].lower, "at") != 0 && strcmp(w[i - 2].lower, "very") != 0)
            valence *= N_SCALAR;
    } else if (i > 0 && !lex_find(lx, w[i - 1].lower, NULL) &&
               strcmp(w[i - 1].lower, "least") == 0) {
        valence *= N_SCALAR;
    }
    return valence;
}

double dc_lexicon_compound(const dc_lexicon *lx, const char *text, size_t len)
{
    word *w = NULL;
    int n = tokenize(text, len, &w);
    if (n == 0) {
        free(w);
        return 0.0;
    }
    int uppers = 0;
    for (int i = 0; i < n; i++) uppers += w[i].upper;
    int cap_diff = uppers > 0 && uppers < n; // emphasis counts only when the text mixes cases
    double *sent = dc_calloc((size_t)n, sizeof *sent);
    for (int i = 0; i < n; i++) {
        if (in_list(BOOST_UP, w[i].lower) || in_list(BOOST_DOWN, w[i].lower)) continue;
        if (i + 1 < n && strcmp(w[i].lower, "kind") == 0 && strcmp(w[i + 1].lower, "of") == 0)
            continue;
        sent[i] = word_valence(lx, w, n, i, cap_diff);
    }
    // "but": what comes after it dominates what came before
    int bi = -1;
    for (int i = 0; i < n && bi < 0; i++)
        if (strcmp(w[i].lower, "but") == 0) bi = i;
    if (bi >= 0)
        for (int i = 0; i < n; i++) {
            if (i < bi) sent[i] *= 0.5;
            else if (i > bi) sent[i] *= 1.5;
        }
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += sent[i];
    free(sent);
    free(w);
    // punctuation emphasis
    int ex = 0, qm = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '!') ex++;
        if (text[i] == '?') qm++;
    }
    double amp = (ex > 4 ? 4 : ex) * 0.292;
    if (qm > 1) amp += qm <= 3 ? qm * 0.18 : 0.96;
    if (sum > 0) sum += amp;
    else if (sum < 0) sum -= amp;
    double c = sum / sqrt(sum * sum + 15.0);
    return c < -1.0 ? -1.0 : (c > 1.0 ? 1.0 : c);
}

double dc_lexicon_reward(const dc_lexicon *lx, const char *text, size_t len)
{
    return 0.5 * (dc_lexicon_compound(lx, text, len) + 1.0);
}
