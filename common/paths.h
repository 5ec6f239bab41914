/* paths.h — where discover finds its own files, installed or in the build tree.
 *
 * Lookup order for the resource root (the folder that holds prompts/, examples/, data/):
 *   1. $DISCOVER_HOME
 *   2. <dir of the running executable>/../share/discover      (installed with cmake --install)
 *   3. the source tree the binary was built from (DC_SOURCE_DIR, compiled in)
 * The sandbox worker binary: $DISCOVER_WORKER, then discover-sandbox beside the running
 * executable, then <exe dir>/../libexec/discover/discover-sandbox, then the build tree
 * (DC_BUILD_DIR, compiled in). */
#ifndef DC_PATHS_H
#define DC_PATHS_H

#include <stddef.h>

/* Writes the resource root into buf; returns 0, or -1 with a message when none is found. */
int dc_resource_root(char *buf, size_t cap, char *err, size_t errcap);
/* Writes <resource root>/<rel> into buf; returns 0 when that path exists. */
int dc_resource_path(const char *rel, char *buf, size_t cap, char *err, size_t errcap);
/* Path of the sandbox worker executable; 0 on success. */
int dc_worker_path(char *buf, size_t cap, char *err, size_t errcap);
/* Directory for derived caches (pretrained models, tokenised data):
 * $DISCOVER_CACHE, else $XDG_CACHE_HOME/discover, else ~/.cache/discover. Created if missing. */
int dc_cache_dir(char *buf, size_t cap, char *err, size_t errcap);

#endif
