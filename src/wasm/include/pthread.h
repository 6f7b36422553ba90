/*
 * pthread.h for the WebAssembly build (-Isrc/wasm/include): wasi-libc (Debian
 * 12, 2022) has no threads, and plow's wasm engine runs on one. Creating a
 * thread fails (EAGAIN), which every caller already handles: the tensor pool
 * runs with one thread (all work on the caller) and the checkpoint writer
 * writes on the caller. Mutexes are no-ops; a condition wait can never be
 * woken by another thread, so it returns at once (the callers re-check their
 * condition in a loop, and with no other thread that condition cannot be
 * waiting on anyone).
 */
#ifndef PLOW_WASM_PTHREAD_H
#define PLOW_WASM_PTHREAD_H

#include <errno.h>

typedef struct { int unused; } pthread_t;
typedef struct { int unused; } pthread_mutex_t;
typedef struct { int unused; } pthread_cond_t;
typedef struct { int unused; } pthread_attr_t;
typedef struct { int done; } pthread_once_t;

#define PTHREAD_ONCE_INIT {0}

#define PTHREAD_MUTEX_INITIALIZER {0}
#define PTHREAD_COND_INITIALIZER {0}

static inline int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) {
    (void)t, (void)a, (void)fn, (void)arg;
    return EAGAIN;
}
static inline int pthread_join(pthread_t t, void **ret) {
    (void)t, (void)ret;
    return EINVAL;
}
static inline int pthread_once(pthread_once_t *o, void (*fn)(void)) {
    if (!o->done) {
        o->done = 1;
        fn();
    }
    return 0;
}
static inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c, (void)m; return 0; }

#endif
