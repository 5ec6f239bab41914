/* gpu_list.c — the NVIDIA GPUs this process may use, without touching CUDA (the campaign
 * process never initialises it: its evaluators do, each on its own device). */
#define _GNU_SOURCE
#include "backend.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dc_visible_gpus(char ids[][64], int cap)
{
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    int n = 0;
    if (vis) {
        /* what the user chose, in its order: indices or GPU-/MIG- UUIDs; CUDA stops at the
         * first invalid entry, and "" or "-1" hides every device */
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", vis);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < cap;
             t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ') t++;
            if (!*t || !strcmp(t, "-1") || !strcmp(t, "NoDevFiles")) break;
            snprintf(ids[n++], 64, "%s", t);
        }
        return n;
    }
    /* the driver lists one folder per GPU, in PCI bus order (the order CUDA uses with
     * CUDA_DEVICE_ORDER=PCI_BUS_ID, which the evaluators are given) */
    DIR *d = opendir("/proc/driver/nvidia/gpus");
    if (!d) return 0;
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') count++;
    closedir(d);
    for (int i = 0; i < count && n < cap; i++) snprintf(ids[n++], 64, "%d", i);
    return n;
}
