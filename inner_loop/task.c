/* task.c — the registry of inner-loop tasks: one line per task in the table below. */
#include "task.h"

#include "inner_loop/fashion/fashion.h"
#include "inner_loop/sentiment/sentiment.h"

#include <stdio.h>
#include <string.h>

/* The first task is the default of `run`, `eval` and the config file. */
static const dc_task_ops *const tasks[] = {
    &dc_task_fashion,
    &dc_task_sentiment,
    &dc_task_sentiment_token,
};

#define NTASKS (sizeof tasks / sizeof *tasks)

const dc_task_ops *dc_task_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < NTASKS; i++)
        if (strcmp(tasks[i]->name, name) == 0) return tasks[i];
    return NULL;
}

const dc_task_ops *dc_task_at(int i)
{
    return i >= 0 && (size_t)i < NTASKS ? tasks[i] : NULL;
}

const char *dc_task_default_baselines(const dc_task_ops *ops, const char *proposer)
{
    for (const dc_task_baselines *b = ops->baselines; b && b->proposer; b++)
        if (!strcmp(b->proposer, proposer) || !strcmp(b->proposer, "*")) return b->list;
    return "";
}

const char *dc_task_names(void)
{
    // built on first use from the table; the names are short and few
    static char names[256];
    if (!names[0]) {
        size_t off = 0;
        for (size_t i = 0; i < NTASKS && off < sizeof names; i++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "",
                                    tasks[i]->name);
    }
    return names;
}
