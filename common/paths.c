#define _GNU_SOURCE
#include "paths.h"

#include "util.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef DC_SOURCE_DIR
#define DC_SOURCE_DIR "."
#endif
#ifndef DC_BUILD_DIR
#define DC_BUILD_DIR "."
#endif

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_exec(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static int exe_dir(char *buf, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    snprintf(buf, cap, "%s", dirname(exe));
    return 0;
}

/* A resource root must hold prompts/ (every install and the source tree do). */
static int looks_like_root(const char *root)
{
    char p[PATH_MAX];
    if (dc_fmt_exact(p, sizeof p, "%s/prompts", root) != 0) return 0; // too long to be one
    return is_dir(p);
}

int dc_resource_root(char *buf, size_t cap, char *err, size_t errcap)
{
    const char *env = getenv("DISCOVER_HOME");
    if (env && *env) {
        if (!looks_like_root(env)) {
            dc_fmt(err, errcap,
                   "DISCOVER_HOME='%s' has no prompts/ folder; point it at the discover source "
                   "tree or <prefix>/share/discover, or unset it",
                   env);
            return -1;
        }
        snprintf(buf, cap, "%s", env);
        return 0;
    }
    char dir[PATH_MAX], cand[PATH_MAX + 32];
    if (exe_dir(dir, sizeof dir) == 0) {
        snprintf(cand, sizeof cand, "%s/../share/discover", dir);
        if (looks_like_root(cand)) {
            snprintf(buf, cap, "%s", cand);
            return 0;
        }
    }
    if (looks_like_root(DC_SOURCE_DIR)) {
        snprintf(buf, cap, "%s", DC_SOURCE_DIR);
        return 0;
    }
    dc_fmt(err, errcap,
           "cannot find discover's resources (prompts/, examples/, data/); reinstall with "
           "'cmake --install' or set DISCOVER_HOME to the source tree");
    return -1;
}

int dc_resource_path(const char *rel, char *buf, size_t cap, char *err, size_t errcap)
{
    char root[PATH_MAX];
    if (dc_resource_root(root, sizeof root, err, errcap) != 0) return -1;
    snprintf(buf, cap, "%s/%s", root, rel);
    if (access(buf, F_OK) != 0) {
        dc_fmt(err, errcap, "missing resource '%s' (looked in %s)", rel, root);
        return -1;
    }
    return 0;
}

int dc_worker_path(char *buf, size_t cap, char *err, size_t errcap)
{
    const char *env = getenv("DISCOVER_WORKER");
    if (env && *env) {
        if (!is_exec(env)) {
            dc_fmt(err, errcap, "DISCOVER_WORKER='%s' is not an executable file", env);
            return -1;
        }
        snprintf(buf, cap, "%s", env);
        return 0;
    }
    char dir[PATH_MAX], cand[PATH_MAX + 64];
    if (exe_dir(dir, sizeof dir) == 0) {
        snprintf(cand, sizeof cand, "%s/discover-sandbox", dir);
        if (is_exec(cand)) goto found;
        snprintf(cand, sizeof cand, "%s/../libexec/discover/discover-sandbox", dir);
        if (is_exec(cand)) goto found;
    }
    snprintf(cand, sizeof cand, "%s/discover-sandbox", DC_BUILD_DIR);
    if (is_exec(cand)) goto found;
    dc_fmt(err, errcap,
           "cannot find the sandbox worker 'discover-sandbox' beside the discover binary; "
           "rebuild, or set DISCOVER_WORKER to its path");
    return -1;
found:
    snprintf(buf, cap, "%s", cand);
    return 0;
}

int dc_cache_dir(char *buf, size_t cap, char *err, size_t errcap)
{
    const char *env = getenv("DISCOVER_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env)
        snprintf(buf, cap, "%s", env);
    else if (xdg && *xdg)
        snprintf(buf, cap, "%s/discover", xdg);
    else if (home && *home)
        snprintf(buf, cap, "%s/.cache/discover", home);
    else
        snprintf(buf, cap, "/tmp/discover-cache");
    return dc_mkdirs(buf, err, errcap);
}
