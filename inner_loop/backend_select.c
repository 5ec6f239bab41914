/* backend_select.c — choosing the backend: the CPU table, or the CUDA plugin loaded at run
 * time with dlopen.
 *
 * Why a plugin: the one discover binary must start on machines without the NVIDIA driver
 * or the CUDA libraries (CI, laptops), so nothing of CUDA is linked into it. The checks run
 * cheapest first and each failure names its cause:
 *   1. find libdiscover_cuda.so   (missing: this build has no CUDA backend)
 *   2. dlopen libcuda.so.1        (missing: no NVIDIA driver; the plugin is never loaded,
 *                                  so a CPU machine does not pay for mapping cuBLAS)
 *   3. dlopen the plugin          (fails: e.g. libcublas missing)
 *   4. its open function          (no device, driver older than the plugin's runtime, ...)
 * The outcome is remembered for the life of the process, and the plugin is never
 * unloaded: a statically linked CUDA runtime registers exit handlers inside it. */
#define _GNU_SOURCE /* readlink */
#include "backend.h"
#include "backend_gpt.h"

#include "common/util.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef DC_BUILD_DIR
#define DC_BUILD_DIR "."
#endif
#ifndef DC_INSTALL_LIBDIR
#define DC_INSTALL_LIBDIR "lib"
#endif

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The plugin's path into buf: 0, or -1 with a message naming where it looked. */
static int find_plugin(char *buf, size_t cap, char *err, size_t errcap)
{
    const char *env = getenv("DISCOVER_CUDA_PLUGIN");
    if (env && *env) {
        if (is_file(env)) {
            snprintf(buf, cap, "%s", env);
            return 0;
        }
        snprintf(err, errcap,
                 "DISCOVER_CUDA_PLUGIN=%s: no such file; point it at " DC_CUDA_PLUGIN_FILE
                 " or unset it",
                 env);
        return -1;
    }
    char exe[PATH_MAX], dir[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(dir, sizeof dir, "%s", dirname(exe));
    }
    char cand[3][PATH_MAX + 64];
    int ncand = 0;
    if (*dir) {
        snprintf(cand[ncand++], sizeof cand[0], "%s/" DC_CUDA_PLUGIN_FILE, dir);
        snprintf(cand[ncand++], sizeof cand[0], "%s/../" DC_INSTALL_LIBDIR "/discover/" DC_CUDA_PLUGIN_FILE, dir);
    }
    snprintf(cand[ncand++], sizeof cand[0], "%s/" DC_CUDA_PLUGIN_FILE, DC_BUILD_DIR);
    for (int i = 0; i < ncand; i++)
        if (is_file(cand[i]) && dc_fmt_exact(buf, cap, "%s", cand[i]) == 0) return 0;
    snprintf(err, errcap,
             "the CUDA plugin " DC_CUDA_PLUGIN_FILE " was not found (looked beside the program, "
             "in <prefix>/" DC_INSTALL_LIBDIR "/discover and in the build tree " DC_BUILD_DIR
             "): this build has no CUDA backend; rebuild where nvcc is installed "
             "(-DDISCOVER_CUDA=ON) or set DISCOVER_CUDA_PLUGIN");
    return -1;
}

/* The loaded plugin (never unloaded), for dc_backend_cuda_symbol. */
static void *plugin_handle;

/* The whole CUDA probe, uncached. */
static const dc_backend_ops *probe_cuda(char *err, size_t errcap)
{
    char path[PATH_MAX + 64];
    if (find_plugin(path, sizeof path, err, errcap)) return NULL;
    // the driver's library first: without it the plugin could only fail, slowly
    if (!dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
        const char *why = dlerror();
        dc_fmt(err, errcap,
                 "libcuda.so.1 not found: no NVIDIA driver on this machine (install it, or use "
                 "--device cpu); dlopen said: %s",
                 why ? why : "nothing");
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        dc_fmt(err, errcap,
                 "cannot load the CUDA plugin %s: %s (are the CUDA toolkit's libraries, e.g. "
                 "libcublas, installed where the plugin was built to find them?)",
                 path, why ? why : "dlopen failed");
        return NULL;
    }
    dc_cuda_backend_open_fn open_fn;
    plugin_handle = h;
    // POSIX's sanctioned way to turn dlsym's void * into a function pointer
    *(void **)&open_fn = dlsym(h, DC_CUDA_PLUGIN_SYMBOL);
    if (!open_fn) {
        dc_fmt(err, errcap, "%s does not export " DC_CUDA_PLUGIN_SYMBOL "; rebuild it", path);
        return NULL;
    }
    char why[512] = "";
    const dc_backend_ops *ops = open_fn(DC_BACKEND_ABI, why, sizeof why);
    if (!ops) {
        dc_fmt(err, errcap, "CUDA backend (%s): %s", path, why[0] ? why : "initialisation failed");
        return NULL;
    }
    if (ops->abi != DC_BACKEND_ABI) {
        dc_fmt(err, errcap, "%s implements backend interface %d, this program needs %d; "
                 "rebuild the plugin with the program", path, ops->abi, DC_BACKEND_ABI);
        return NULL;
    }
    return ops;
}

void *dc_backend_cuda_symbol(const char *symbol)
{
    if (!plugin_handle || !symbol) return NULL;
    return dlsym(plugin_handle, symbol);
}

int dc_backend_select(const char *device, const dc_backend_ops **ops, char *err, size_t errcap)
{
    static int probed;
    static const dc_backend_ops *cuda_ops;
    static char cuda_why[768];

    int want_cpu = device && !strcmp(device, "cpu"), want_cuda = device && !strcmp(device, "cuda");
    int want_auto = device && !strcmp(device, "auto");
    if (!want_cpu && !want_cuda && !want_auto) {
        snprintf(err, errcap, "device '%s' is not known; use auto, cpu or cuda",
                 device ? device : "(null)");
        return -1;
    }
    if (want_cpu) {
        *ops = dc_backend_cpu();
        return 0;
    }
    if (!probed) {
        cuda_ops = probe_cuda(cuda_why, sizeof cuda_why);
        probed = 1;
        // a backend that starts but computes wrong numbers would train every candidate
        // wrongly without a single error: check it against the CPU once before handing it out
        char why[512];
        if (cuda_ops && dc_backend_verify(cuda_ops, dc_backend_cpu(), why, sizeof why) != 0) {
            dc_fmt(cuda_why, sizeof cuda_why,
                   "the CUDA backend (%s) disagrees with the CPU reference: %s; use --device "
                   "cpu, and please report this with the output of bench/cuda/run.sh",
                   cuda_ops->name(), why);
            cuda_ops = NULL;
            if (want_auto) fprintf(stderr, "discover: warning: %s; using the CPU\n", cuda_why);
        }
    }
    if (cuda_ops) {
        *ops = cuda_ops;
        return 0;
    }
    if (want_auto) { // silently: a CPU machine is a normal place to run
        *ops = dc_backend_cpu();
        return 0;
    }
    snprintf(err, errcap, "%s", cuda_why);
    return -1;
}
