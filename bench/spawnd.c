/*
 * spawnd: the benchmark's process starter. The harness (a .NET process of ~50 MiB) cannot start its commands
 * itself and still learn their peak memory: a child made with vfork/fork records its parent's memory high-water
 * mark as its own ru_maxrss when it calls execve (fs/exec.c, exec_mmap -> setmax_mm_hiwater_rss). So the
 * harness keeps this small process and asks it to run each command: spawnd starts it with posix_spawn(3) (glibc:
 * clone with CLONE_VM|CLONE_VFORK, so the child execs from spawnd's memory of about 1 MiB), and reaps it with
 * wait4(2), which reports the command's ru_maxrss.
 *
 * It also puts the command in the network namespace the harness names, by setns(2) on itself before starting it
 * (it is single-threaded), so a command runs inside a lab without an nsenter exec in front of it. If the namespace
 * cannot be entered the command is not started at all (reply 125): nothing meant for a lab ever runs elsewhere.
 *
 * Protocol on stdin/stdout (one request at a time):
 *   request: u32 length (host order), then that many bytes: NUL-terminated strings
 *            netns_path, stdin_path, stdout_path, stderr_path, argc, argv[0..argc-1], envc, env[0..envc-1]
 *            (netns_path "" = spawnd's own starting namespace; argc and envc in decimal; argv[0] an absolute
 *            path; no PATH search)
 *   reply:   one line "EXIT MAXRSS_KIB ELAPSED_NS\n": EXIT is the exit code, or 128 + signal; 127 when it could not
 *            be started; 125 when the namespace could not be entered; ELAPSED_NS is CLOCK_MONOTONIC from just before posix_spawn to just after wait4.
 * EOF on stdin ends it. spawnd ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C must not take it away while the harness
 * still needs it to remove its labs); the commands it starts get the default actions back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r == 0) return 0;
        if (r < 0) { if (errno == EINTR) continue; return -1; }
        got += (size_t)r;
    }
    return 1;
}

/* Enters the network namespace at path ("" = the one spawnd started in). Returns 0 on success. */
static int enter(const char *path, int home, char *current, size_t cap)
{
    if (strcmp(path, current) == 0) return 0;
    current[0] = 1; /* unknown until the switch succeeds: never matches a real path */
    current[1] = 0;
    int fd = path[0] ? open(path, O_RDONLY | O_CLOEXEC) : home;
    if (fd < 0) return -1;
    int rc = setns(fd, CLONE_NEWNET);
    if (fd != home) close(fd);
    if (rc != 0 || strlen(path) >= cap) return -1;
    strcpy(current, path);
    return 0;
}

static int reply(long code, long maxrss, long long ns)
{
    char line[96];
    int n = snprintf(line, sizeof line, "%ld %ld %lld\n", code, maxrss, ns);
    return write(1, line, (size_t)n) == n ? 0 : -1;
}

int main(void)
{
    static char buf[1 << 20];
    static char current[4096] = "";
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) return 1;
    sigset_t deflt;
    sigemptyset(&deflt);
    int ignored[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        signal(ignored[i], SIG_IGN);
        sigaddset(&deflt, ignored[i]);
    }
    posix_spawnattr_t attr;
    if (posix_spawnattr_init(&attr) != 0 || posix_spawnattr_setsigdefault(&attr, &deflt) != 0
        || posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF) != 0)
        return 1;
    for (;;) {
        uint32_t len;
        int r = read_full(0, &len, sizeof len);
        if (r <= 0) return r < 0;
        if (len >= sizeof buf || read_full(0, buf, len) <= 0) return 1;
        buf[len] = 0;

        char *fields[4096];
        int nf = 0;
        for (char *p = buf; p < buf + len && nf < 4096; p += strlen(p) + 1) fields[nf++] = p;
        if (nf < 6) return 1;
        int argc = atoi(fields[4]);
        if (argc < 1 || 5 + argc >= nf) return 1;
        int envc = atoi(fields[5 + argc]);
        if (envc < 0 || 6 + argc + envc > nf) return 1;
        char *argv[4096], *envp[4096];
        for (int i = 0; i < argc; i++) argv[i] = fields[5 + i];
        argv[argc] = NULL;
        for (int i = 0; i < envc; i++) envp[i] = fields[6 + argc + i];
        envp[envc] = NULL;

        if (enter(fields[0], home, current, sizeof current) != 0) {
            if (reply(125, 0, 0) != 0) return 1;
            continue;
        }

        posix_spawn_file_actions_t fa;
        if (posix_spawn_file_actions_init(&fa) != 0
            || posix_spawn_file_actions_addopen(&fa, 0, fields[1], O_RDONLY, 0) != 0
            || posix_spawn_file_actions_addopen(&fa, 1, fields[2], O_WRONLY | O_CREAT | O_TRUNC, 0644) != 0
            || posix_spawn_file_actions_addopen(&fa, 2, fields[3], O_WRONLY | O_CREAT | O_TRUNC, 0644) != 0)
            return 1;
        struct timespec t0, t1;
        struct rusage ru = {0};
        int status = 0, code;
        pid_t pid;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (posix_spawn(&pid, argv[0], &fa, &attr, argv, envp) != 0) {
            code = 127;
        } else {
            while (wait4(pid, &status, 0, &ru) < 0)
                if (errno != EINTR) return 1;
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        posix_spawn_file_actions_destroy(&fa);
        long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
        if (reply(code, ru.ru_maxrss, ns) != 0) return 1;
    }
}
