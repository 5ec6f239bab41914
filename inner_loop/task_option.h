/* task_option.h — one table per task describes every option: its key, default, help line,
 * kind, accepted range and where its value lives in the task's configuration. `--help`,
 * set_option's parsing and validation, the defaults and the archived configuration JSON are
 * all generated from that table (task_option.c), so they cannot disagree. */
#ifndef DC_TASK_OPTION_H
#define DC_TASK_OPTION_H

#include <cJSON.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    DC_OPT_INT,       /* int, whole number in [min, max] */
    DC_OPT_REAL,      /* double in [min, max] (min_open / max_open exclude a bound) */
    DC_OPT_REAL_LIST, /* "0.05,0.1": up to `size` doubles, each in range; count at count_offset */
    DC_OPT_TEXT,      /* char[size] */
    DC_OPT_CHOICE,    /* char[size], one of the comma-separated `choices` */
} dc_opt_kind;

typedef struct {
    const char *key;  /* "steps" */
    const char *def;  /* default value as text */
    const char *help; /* one line */
    dc_opt_kind kind;
    double min, max;
    int min_open, max_open;
    size_t offset;       /* of the value in the task's configuration struct */
    size_t size;         /* TEXT/CHOICE: capacity in bytes; REAL_LIST: most values */
    size_t count_offset; /* REAL_LIST: of the int that holds the number of values */
    const char *choices; /* CHOICE: "auto,cpu,cuda" */
    /* INT: a further rule than the range (e.g. "a power of two"); 0, or -1 with a message
     * that completes "option KEY: ". NULL when none. */
    int (*check)(long value, char *err, size_t errcap);
} dc_task_option;

/* The option of `key` in table (terminated by {NULL}), or NULL. */
const dc_task_option *dc_option_find(const dc_task_option *table, const char *key);

/* Parses value for key into cfg. Unknown key: "task TASK has no option 'KEY'; its options
 * are: ...". Bad value: "option KEY: 'VALUE' is not accepted; give ...". 0 or -1. */
int dc_option_set(const dc_task_option *table, const char *task, void *cfg, const char *key,
                  const char *value, char *err, size_t errcap);

/* Sets every default. A default that does not parse is a bug in the table: it aborts. */
void dc_option_defaults(const dc_task_option *table, const char *task, void *cfg);

/* The effective values as one JSON object: numbers and lists in table order, then texts and
 * choices in table order (the archived task configuration). */
cJSON *dc_option_json(const dc_task_option *table, const void *cfg);

/* One line per option, "  KEY  HELP (default D)", for --help. */
void dc_option_print_help(const dc_task_option *table, FILE *f);

/* "steps, batch, lr, ..." into buf. */
void dc_option_names(const dc_task_option *table, char *buf, size_t cap);

#endif
