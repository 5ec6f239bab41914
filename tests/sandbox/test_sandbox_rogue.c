/* Regression tests for two attacks on the host through the shared memory and the doorbell
 * (found in review): a worker that forges the host-only status "interrupted", and a worker
 * that serves requests without reading them (the host used to block forever in send()). */
#include "tests/test.h"

#include "common/util.h"
#include "sandbox/sandbox.h"

#include <stdlib.h>

static char *fixture(const char *name, size_t *len)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/tests/sandbox/fixtures/%s", DC_SOURCE_DIR, name);
    char *src = dc_read_file(path, 0, len, err, sizeof err);
    if (!src) fprintf(stderr, "%s\n", err);
    return src;
}

static void test_forged_status(void)
{
    size_t len;
    char *src = fixture("forge_status.c", &len);
    CHECK(src != NULL);
    if (!src) return;
    char msg[512];
    dc_status st = sbx_check_source(SBX_CLS, src, len, NULL, msg, sizeof msg);
    CHECK_MSG(st != DC_INTERRUPTED && st != DC_DUPLICATE && st != DC_OK, "status %s: %s",
              dc_status_name(st), msg);
    CHECK_MSG(strstr(msg, "stopped by the user") == NULL, "forged message believed: %s", msg);
    free(src);
}

static void test_rogue_server(void)
{
    size_t len;
    char *src = fixture("rogue_server.c", &len);
    CHECK(src != NULL);
    if (!src) return;
    sbx_worker *w = NULL;
    char msg[512];
    dc_status st = sbx_open(SBX_CLS, src, len, NULL, &w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "open: %s", msg);
    enum { N = 32, K = 10 };
    double logits[N * K], loss[N], grad[N * K];
    int labels[N];
    for (int i = 0; i < N * K; i++) logits[i] = 0.01 * (i % 17);
    for (int i = 0; i < N; i++) labels[i] = i % K;
    /* Far more requests than the socket buffer holds unread bytes: the host must notice. */
    double t0 = dc_now();
    int i = 0;
    for (; st == DC_OK && i < 20000; i++)
        st = sbx_cls_eval(w, N, K, logits, labels, loss, grad, msg, sizeof msg);
    CHECK_MSG(st == DC_VIOLATION, "after %d calls: %s %s", i, dc_status_name(st), msg);
    CHECK(dc_now() - t0 < 60);
    sbx_close(w);
    free(src);
}

int main(void)
{
    test_forged_status();
    test_rogue_server();
    return TEST_REPORT();
}
