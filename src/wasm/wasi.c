/*
 * wasi.c — see wasi.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

char *realpath(const char *restrict path, char *restrict resolved) {
    if (!path) {
        errno = EINVAL;
        return NULL;
    }
    size_t n = strlen(path) + 1;
    if (resolved) {
        if (n > 4096) { /* PATH_MAX of glibc; wasi-libc has none */
            errno = ENAMETOOLONG;
            return NULL;
        }
        return memcpy(resolved, path, n);
    }
    char *r = malloc(n);
    if (r) memcpy(r, path, n);
    return r;
}

char *mkdtemp(char *tmpl) {
    size_t n = strlen(tmpl);
    if (n < 6 || strcmp(tmpl + n - 6, "XXXXXX") != 0) {
        errno = EINVAL;
        return NULL;
    }
    static unsigned counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned v = (unsigned)ts.tv_nsec * 2654435761u + ++counter * 40503u + (unsigned)ts.tv_sec;
        for (int i = 0; i < 6; i++, v /= 36) tmpl[n - 6 + (size_t)i] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
        if (mkdir(tmpl, 0700) == 0) return tmpl;
        if (errno != EEXIST) return NULL;
    }
    return NULL;
}

/* No processes in WASI: a command cannot be run (declared by stdlib.h). */
int system(const char *command) {
    (void)command;
    errno = ENOSYS;
    return -1;
}
