/* data.c — loading the review sentences (cJSON) and the fortunes corpus. */
#define _DEFAULT_SOURCE
#include "data.h"

#include "common/util.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const SENT_SOURCES[3] = {"imdb", "yelp", "amazon"};

int sent_reviews_load_file(const char *path, int source, sent_reviews *out, char *err,
                           size_t errcap)
{
    size_t len = 0;
    char *text = dc_read_file(path, 64u << 20, &len, err, errcap);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root || !cJSON_IsArray(root)) {
        dc_fmt(err, errcap, "%s is not a JSON array of {\"text\", \"class\"} records; restore it "
               "from the discover source tree (data/sentiment/)", path);
        cJSON_Delete(root);
        return -1;
    }
    int n = cJSON_GetArraySize(root), added = 0;
    out->items = dc_realloc(out->items, (size_t)(out->n + n) * sizeof *out->items);
    for (int i = 0; i < n; i++) {
        cJSON *rec = cJSON_GetArrayItem(root, i);
        cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "text");
        cJSON *c = cJSON_GetObjectItemCaseSensitive(rec, "class");
        if (cJSON_IsNull(c)) continue; // the trailing empty record of the UCI fixture
        if (!cJSON_IsString(t) || !cJSON_IsNumber(c) || (c->valueint != 0 && c->valueint != 1)) {
            dc_fmt(err, errcap, "%s record %d: expected {\"text\": string, \"class\": 0 or 1}",
                   path, i);
            cJSON_Delete(root);
            return -1;
        }
        const char *s = t->valuestring;
        size_t l = strlen(s);
        while (l > 0 && isspace((unsigned char)s[l - 1])) l--;
        while (l > 0 && isspace((unsigned char)*s)) {
            s++;
            l--;
        }
        if (l == 0) continue;
        sent_review *r = &out->items[out->n++];
        r->text = dc_malloc(l + 1);
        memcpy(r->text, s, l);
        r->text[l] = '\0';
        r->label = c->valueint;
        r->source = source;
        added++;
    }
    cJSON_Delete(root);
    if (added == 0) {
        dc_fmt(err, errcap, "%s holds no labelled sentences", path);
        return -1;
    }
    return 0;
}

int sent_reviews_load(const char *dir, sent_reviews *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    for (int s = 0; s < 3; s++) {
        char path[4096];
        dc_fmt(path, sizeof path, "%s/labelled_%s.json", dir, SENT_SOURCES[s]);
        if (sent_reviews_load_file(path, s, out, err, errcap) != 0) {
            sent_reviews_free(out);
            return -1;
        }
    }
    return 0;
}

void sent_reviews_free(sent_reviews *r)
{
    for (int i = 0; i < r->n; i++) free(r->items[i].text);
    free(r->items);
    memset(r, 0, sizeof *r);
}

int sent_is_held_out(const char *text)
{
    return dc_hash64(text, strlen(text), 0x5e47) % 10 == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

uint8_t *sent_fortunes_load(const char *dir, size_t *len_out, int *entries_out, char *err,
                            size_t errcap)
{
    DIR *d = opendir(dir);
    if (!d) {
        dc_fmt(err, errcap, "cannot open the fortunes folder %s; install Debian's 'fortunes' "
               "and 'fortunes-min' packages (./setup.sh deps) or set the option fortunes_dir",
               dir);
        return NULL;
    }
    char **names = NULL;
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".dat") || ends_with(e->d_name, ".u8"))
            continue;
        char path[4096];
        struct stat st;
        dc_fmt(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue; // links, sub-folders
        names = dc_realloc(names, (size_t)(nn + 1) * sizeof *names);
        names[nn++] = dc_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp_str); // readdir order is not stable
    dc_sb out = {0};
    int entries = 0;
    for (int i = 0; i < nn; i++) {
        char path[4096];
        dc_fmt(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        char *text = dc_read_file(path, 16u << 20, &len, err, errcap);
        free(names[i]);
        if (!text) continue; // an unreadable file is skipped; the total is checked below
        size_t start = 0;
        for (size_t p = 0; p <= len; p++) {
            if (p < len && text[p] != '\n') continue;
            // line [start, p)
            int sep = (p - start == 1 && text[start] == '%');
            if (sep || p == len) {
                if (!sep && p > start) dc_sb_appendn(&out, text + start, p - start);
                // close the current entry when it has text
                if (out.len > 0 && out.data[out.len - 1] != '\0') {
                    dc_sb_appendn(&out, "", 1);
                    entries++;
                }
            } else {
                dc_sb_appendn(&out, text + start, p - start + 1); // keep the newline
            }
            start = p + 1;
        }
        free(text);
    }
    free(names);
    if (entries < 10) {
        dc_sb_free(&out);
        dc_fmt(err, errcap, "the fortunes folder %s holds %d entries; install Debian's "
               "'fortunes' package (./setup.sh deps) or point fortunes_dir at fortune files",
               dir, entries);
        return NULL;
    }
    *len_out = out.len;
    *entries_out = entries;
    return (uint8_t *)out.data;
}
