/* export.h — what the two formats of `discover export` share: the candidate's metadata as
 * comment lines (C block comment or Python comments), and the PyTorch module writer. */
#ifndef DC_CLI_EXPORT_H
#define DC_CLI_EXPORT_H

#include "archive/archive.h"
#include "common/util.h"
#include "inner_loop/task.h"

#include <stddef.h>

typedef struct {
    const arc_candidate *c;
    const arc_campaign *camp; /* NULL when the campaign row could not be read */
    const char *archive;      /* the archive's path, absolute when it could be resolved */
    const char *file_name;    /* the output file's base name, for the "Use it" lines */
} export_source;

typedef enum {
    EXPORT_C,  /* lines of a block comment: " * text", comment delimiters defused */
    EXPORT_PY, /* Python comment lines: "# text", escaped so the file stays valid UTF-8 */
} export_style;

/* One fixed line of the comment (no escaping: for text written here). */
void export_line(dc_sb *b, export_style st, const char *text);
/* Text from the archive as comment lines, each starting with indent; NULL or "" is
 * "(none)". Newlines start new comment lines; nothing in it can end the comment. */
void export_comment(dc_sb *b, export_style st, const char *text, const char *indent);
/* The metadata block both formats start with: name, campaign, status, scores, metrics,
 * source and thought. */
void export_metadata(dc_sb *b, export_style st, const export_source *e);

/* `discover export --format pytorch`: the module text (heap string), or NULL with a message
 * naming what is wrong. task is the candidate's task (its interface decides the signature).
 * *rendered is set to 1 when the loss is PyTorch operations rendered from the genome, 0
 * when the module carries the C source (ctypes, no sandbox). */
char *export_pytorch(const export_source *e, const dc_task_ops *task, int *rendered, char *err,
                     size_t errcap);

/* Embedded at build time (discover/cli/CMakeLists.txt): the Python the modules share and
 * the objective header the C path compiles against. */
extern const char dc_export_pytorch_api[];
extern const char dc_export_pytorch_ctypes[];
extern const char dc_export_objective_header[];

#endif
