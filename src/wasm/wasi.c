/*
 * wasi.c — see wasi.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *realpath(const char *restrict path, char *restrict resolved) {
    if (!path || !*path) {
        errno = path ? ENOENT : EINVAL;
        return NULL;
    }
    char cwd[4096] = "";
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd)) return NULL;
    size_t cap = strlen(cwd) + strlen(path) + 2;
    char *out = malloc(cap), *o = out;
    if (!out) return NULL;
    /* "/" + cwd + "/" + path, one component at a time: "." dropped, ".."
     * removes the previous one (WASI has no symbolic links to follow) */
    *o = 0;
    for (int part = 0; part < 2; part++) {
        const char *p = part ? path : cwd;
        while (*p) {
            while (*p == '/') p++;
            const char *q = p;
            while (*q && *q != '/') q++;
            size_t n = (size_t)(q - p);
            if (n == 2 && p[0] == '.' && p[1] == '.') {
                while (o > out && *--o != '/') {}
                *o = 0;
            } else if (n > 0 && !(n == 1 && p[0] == '.')) {
                *o++ = '/';
                memcpy(o, p, n);
                o += n;
                *o = 0;
            }
            p = q;
        }
    }
    if (o == out) *o++ = '/', *o = 0;
    if (resolved) {
        if ((size_t)(o - out) + 1 > 4096) { /* PATH_MAX of glibc; wasi-libc has none */
            free(out);
            errno = ENAMETOOLONG;
            return NULL;
        }
        memcpy(resolved, out, (size_t)(o - out) + 1);
        free(out);
        return resolved;
    }
    return out;
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
