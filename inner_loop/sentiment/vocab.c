/* vocab.c — word-level tokenizer of the sentiment task: counting, vocabulary, encode/decode. */
#include "vocab.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- splitting ---- */

static int is_word_byte(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch >= 128;
}

static int is_space(unsigned char ch)
{
    // a 0 byte separates fortunes entries: a space to the splitter
    return ch == 0 || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The next token of text[*pos..len) into buf (lower-case, NUL-terminated, SENT_VOCAB_WORD_MAX
 * bytes). Returns 1 (a token), 2 (a word too long for the vocabulary: <unk>) or 0 (end). */
static int next_token(const char *text, size_t len, size_t *pos, char *buf)
{
    size_t i = *pos;
    while (i < len && is_space((unsigned char)text[i])) i++;
    if (i >= len) {
        *pos = i;
        return 0;
    }
    unsigned char ch = (unsigned char)text[i];
    if (!is_word_byte(ch)) {
        // punctuation (or any other byte): a token of one byte
        buf[0] = (char)ch;
        buf[1] = '\0';
        *pos = i + 1;
        return 1;
    }
    size_t n = 0;
    int too_long = 0;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        // an apostrophe between word bytes stays in the word: "don't", "isn't"
        int apos = c == '\'' && n > 0 && i + 1 < len && is_word_byte((unsigned char)text[i + 1]);
        if (!is_word_byte(c) && !apos) break;
        if (n + 1 < SENT_VOCAB_WORD_MAX) buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        else too_long = 1;
        i++;
    }
    buf[n] = '\0';
    *pos = i;
    return too_long ? 2 : 1;
}

/* ---- an open-addressing string table (word → count or id) ---- */

typedef struct {
    char *word;
    long value;
} slot;

typedef struct {
    slot *slots;
    size_t cap, count; /* cap a power of two, kept at most half full */
} table;

static size_t find_slot(const table *t, const char *w)
{
    size_t mask = t->cap - 1, s = dc_hash64(w, strlen(w), 0x70c) & mask;
    while (t->slots[s].word && strcmp(t->slots[s].word, w) != 0) s = (s + 1) & mask;
    return s;
}

static void table_init(table *t, size_t cap)
{
    t->cap = cap;
    t->count = 0;
    t->slots = dc_calloc(cap, sizeof *t->slots);
}

static slot *table_get(table *t, const char *w, int insert)
{
    if (insert && (t->count + 1) * 2 > t->cap) {
        table old = *t;
        table_init(t, old.cap * 2);
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i].word) {
                t->slots[find_slot(t, old.slots[i].word)] = old.slots[i];
                t->count++;
            }
        free(old.slots);
    }
    size_t s = find_slot(t, w);
    if (!t->slots[s].word) {
        if (!insert) return NULL;
        t->slots[s].word = dc_strdup(w);
        t->slots[s].value = 0;
        t->count++;
    }
    return &t->slots[s];
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->cap; i++) free(t->slots[i].word);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* ---- counting and the vocabulary ---- */

struct sent_vocab_counter {
    table words;
};

struct sent_vocab {
    int n;
    char **words; /* id → text */
    table ids;    /* text → id */
    uint64_t hash;
};

sent_vocab_counter *sent_vocab_counter_new(void)
{
    sent_vocab_counter *c = dc_calloc(1, sizeof *c);
    table_init(&c->words, 1024);
    return c;
}

void sent_vocab_count(sent_vocab_counter *c, const char *text, size_t len, int weight)
{
    size_t pos = 0;
    char buf[SENT_VOCAB_WORD_MAX];
    int k;
    while ((k = next_token(text, len, &pos, buf)) != 0)
        if (k == 1) table_get(&c->words, buf, 1)->value += weight;
}

static int by_count(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    return strcmp(x->word, y->word); // ties: byte order, so the result never depends on hashing
}

sent_vocab *sent_vocab_finish(sent_vocab_counter *c, int size)
{
    size_t n = 0;
    slot *all = dc_malloc((c->words.count + 1) * sizeof *all);
    for (size_t i = 0; i < c->words.cap; i++)
        if (c->words.slots[i].word) all[n++] = c->words.slots[i];
    qsort(all, n, sizeof *all, by_count);
    size_t keep = size > 2 && n > (size_t)(size - 2) ? (size_t)(size - 2) : n;
    sent_vocab *v = dc_calloc(1, sizeof *v);
    v->n = (int)keep + 2;
    v->words = dc_malloc((size_t)v->n * sizeof *v->words);
    v->words[SENT_TOK_EOT] = dc_strdup("<eot>");
    v->words[SENT_TOK_UNK] = dc_strdup("<unk>");
    table_init(&v->ids, 64);
    uint64_t h = 0x5e47;
    for (int id = 0; id < v->n; id++) {
        if (id >= 2) v->words[id] = dc_strdup(all[id - 2].word);
        table_get(&v->ids, v->words[id], 1)->value = id;
        h = dc_hash64(v->words[id], strlen(v->words[id]) + 1, h); // NUL separates the words
    }
    v->hash = h;
    free(all);
    table_free(&c->words);
    free(c);
    return v;
}

void sent_vocab_free(sent_vocab *v)
{
    if (!v) return;
    for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    table_free(&v->ids);
    free(v);
}

int sent_vocab_size(const sent_vocab *v) { return v->n; }

const char *sent_vocab_word(const sent_vocab *v, int id)
{
    return id >= 0 && id < v->n ? v->words[id] : NULL;
}

int sent_vocab_id(const sent_vocab *v, const char *word)
{
    // the special tokens' texts are not words of any input: "<eot>" splits into "<", "eot", ">"
    slot *s = table_get((table *)&v->ids, word, 0);
    return s && s->value >= 2 ? (int)s->value : SENT_TOK_UNK;
}

uint64_t sent_vocab_hash(const sent_vocab *v) { return v->hash; }

int sent_vocab_encode(const sent_vocab *v, const char *text, size_t len, int *out, int cap)
{
    size_t pos = 0;
    char buf[SENT_VOCAB_WORD_MAX];
    int n = 0, k;
    while (n < cap && (k = next_token(text, len, &pos, buf)) != 0)
        out[n++] = k == 1 ? sent_vocab_id(v, buf) : SENT_TOK_UNK;
    return n;
}

int sent_vocab_decode(const sent_vocab *v, const int *ids, int n, char *buf, int cap)
{
    int len = 0;
    if (cap < 1) return 0;
    for (int i = 0; i < n; i++) {
        const char *w = sent_vocab_word(v, ids[i]);
        if (!w || ids[i] == SENT_TOK_EOT) continue;
        int wl = (int)strlen(w), sep = len > 0;
        if (len + sep + wl > cap - 1) break;
        if (sep) buf[len++] = ' ';
        memcpy(buf + len, w, (size_t)wl);
        len += wl;
    }
    buf[len] = '\0';
    return len;
}
