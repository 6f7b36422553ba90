/*
 * wasi.h — force-included (-include) in every file of the WebAssembly build:
 * the POSIX calls plow uses that wasi-libc (Debian 12) does not declare,
 * implemented in src/wasm/wasi.c. The one place the wasm port adapts the C
 * library, so the other layers carry no #ifdefs.
 */
#ifndef PLOW_WASM_WASI_H
#define PLOW_WASM_WASI_H

/* The absolute form of path against the current directory (src/wasm/main.c
 * sets it from PLOW_CWD), "." and ".." resolved; WASI has no symbolic links.
 * Does not check that the path exists. */
char *realpath(const char *restrict path, char *restrict resolved);

/* mkdtemp: the X's replaced from a counter and the clock, then mkdir 0700. */
char *mkdtemp(char *tmpl);

#endif
