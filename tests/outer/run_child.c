#define _GNU_SOURCE
#include "run_child.h"

#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *discover_bin(void) { return DC_BUILD_DIR "/discover"; }

static void child_env(char *const env_extra[])
{
    for (int i = 0; env_extra && env_extra[i]; i++) putenv(env_extra[i]);
}

pid_t spawn_child(char *const argv[], char *const env_extra[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        child_env(env_extra);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int run_child(char *const argv[], char *const env_extra[], double timeout_s, char **out,
              char **err_out)
{
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0) return -2;
    pid_t pid = fork();
    if (pid < 0) return -2;
    if (pid == 0) {
        dup2(po[1], 1);
        if (err_out) dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        child_env(env_extra);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    dc_sb so = {0}, se = {0};
    double deadline = dc_now() + timeout_s;
    int open_fds = 2, timed_out = 0;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    while (open_fds > 0) {
        double left = deadline - dc_now();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int r = poll(fds, 2, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            char buf[8192];
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else {
                dc_sb_appendn(i == 0 ? &so : &se, buf, (size_t)n);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0) close(fds[i].fd);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (out) *out = dc_sb_take(&so);
    else dc_sb_free(&so);
    if (err_out) *err_out = dc_sb_take(&se);
    else dc_sb_free(&se);
    if (timed_out) return -1;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
