/* harness.h: what the libFuzzer harnesses (fuzz_cfg.c, fuzz_weights.c) share.
 *
 * Darknet reports a bad input by printing a message and calling exit() (patches 0009-0011 made
 * sure it does, with EXIT_FAILURE, rather than crash). To libFuzzer that exit is an ordinary
 * outcome, not a finding, so the harnesses are linked with -Wl,--wrap=exit,--wrap=malloc,... (see
 * the Makefile's fuzz target), which sends Darknet's calls to exit() and to the allocator through
 * the __wrap_* functions below:
 *
 * - __wrap_exit, while an input runs, longjmp()s back to harness_run() instead of exiting. That
 *   is sound here: parsing a cfg or loading weights is single-threaded, and Darknet holds no lock
 *   when it exits (stdio calls return before it; fatal_error's lock is recursive for this reason).
 * - Darknet frees nothing on those paths, so every allocation made while an input runs is
 *   tracked and released when it ends (after a longjmp or a normal return): memory stays bounded
 *   over hundreds of thousands of inputs, and leaks on error paths are not reported (LeakSanitizer
 *   is off in these runs; `make test SAN=1` checks leaks on the program's normal paths).
 * - Files Darknet opened and left open when it exited (e.g. read_cfg stops at a bad line with
 *   the cfg open) are closed too: fopen and fclose are wrapped for that.
 * - One allocation above HARNESS_MAX_ALLOC, or more than HARNESS_MAX_LIVE live at once, ends the
 *   input like an exit: a cfg may describe a legitimately huge network (Darknet only needs every
 *   size to fit in an int, patch 0010 checks that), and the fuzzing machine has little memory.
 *
 * Anything else - a signal, an ASan or UBSan report, an abort - is a finding: libFuzzer saves the
 * input as crash-* and the test fails.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define HARNESS_MAX_ALLOC ((size_t)256 << 20)
#define HARNESS_MAX_LIVE ((size_t)1 << 30)

static jmp_buf harness_jmp;
static int harness_active;        /* an input is running: exit() returns to harness_run */
static size_t harness_live;       /* bytes in tracked allocations */
static unsigned long harness_exits, harness_too_big, harness_done;

/* ---- tracked allocations: an open-addressing set of (pointer, size) ---------------------------- */
typedef struct { void *p; size_t n; } harness_slot;
static harness_slot *harness_set;
static size_t harness_cap, harness_used;   /* used counts tombstones too */
#define HARNESS_TOMB ((void *)1)

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
ssize_t __real_getline(char **line, size_t *n, FILE *fp);
void __real_exit(int status) __attribute__((noreturn));
FILE *__real_fopen(const char *path, const char *mode);
int __real_fclose(FILE *fp);

static size_t harness_hash(void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
    return (size_t)x;
}

static void harness_insert(void *p, size_t n);

static void harness_grow(void)
{
    harness_slot *old = harness_set;
    size_t old_cap = harness_cap;
    harness_cap = old_cap ? old_cap * 2 : 4096;
    harness_set = __real_calloc(harness_cap, sizeof *harness_set);
    if (!harness_set) { fprintf(stderr, "harness: out of memory\n"); abort(); }
    harness_used = 0;
    for (size_t i = 0; i < old_cap; ++i)
        if (old[i].p && old[i].p != HARNESS_TOMB) harness_insert(old[i].p, old[i].n);
    __real_free(old);
}

static void harness_insert(void *p, size_t n)
{
    if (2 * (harness_used + 1) > harness_cap) harness_grow();
    size_t i = harness_hash(p) & (harness_cap - 1);
    while (harness_set[i].p && harness_set[i].p != HARNESS_TOMB) i = (i + 1) & (harness_cap - 1);
    if (!harness_set[i].p) ++harness_used;
    harness_set[i].p = p;
    harness_set[i].n = n;
    harness_live += n;
}

/* Forgets p if it is tracked; returns whether it was. */
static int harness_forget(void *p)
{
    if (!p || !harness_cap) return 0;
    size_t i = harness_hash(p) & (harness_cap - 1);
    while (harness_set[i].p) {
        if (harness_set[i].p == p) {
            harness_live -= harness_set[i].n;
            harness_set[i].p = HARNESS_TOMB;
            return 1;
        }
        i = (i + 1) & (harness_cap - 1);
    }
    return 0;
}

/* An allocation the harness does not allow ends the input (see the top of this file). */
static void harness_check_size(size_t n)
{
    if (harness_active && (n > HARNESS_MAX_ALLOC || harness_live + n > HARNESS_MAX_LIVE)) {
        ++harness_too_big;
        longjmp(harness_jmp, 2);
    }
}

void *__wrap_malloc(size_t n)
{
    harness_check_size(n);
    void *p = __real_malloc(n);
    if (p && harness_active) harness_insert(p, n);
    return p;
}

void *__wrap_calloc(size_t k, size_t n)
{
    if (n && k > SIZE_MAX / n) return NULL;
    harness_check_size(k * n);
    void *p = __real_calloc(k, n);
    if (p && harness_active) harness_insert(p, k * n);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    harness_check_size(n);
    int tracked = harness_forget(old);
    void *p = __real_realloc(old, n);
    if (!p && tracked) harness_insert(old, 0);   /* the old block is still there */
    if (p && (harness_active || tracked)) harness_insert(p, n);
    return p;
}

void __wrap_free(void *p)
{
    harness_forget(p);
    __real_free(p);
}

/* Darknet's fgetl reads lines with getline, which allocates inside libc. */
ssize_t __wrap_getline(char **line, size_t *n, FILE *fp)
{
    char *old = *line;
    ssize_t r = __real_getline(line, n, fp);
    if (*line != old) {
        harness_forget(old);
        if (*line && harness_active) harness_insert(*line, *n);
    }
    return r;
}

/* Files opened while an input runs and not yet closed. */
#define HARNESS_MAX_FILES 64
static FILE *harness_files[HARNESS_MAX_FILES];

FILE *__wrap_fopen(const char *path, const char *mode)
{
    FILE *fp = __real_fopen(path, mode);
    if (fp && harness_active) {
        for (int i = 0; i < HARNESS_MAX_FILES; ++i)
            if (!harness_files[i]) { harness_files[i] = fp; break; }
    }
    return fp;
}

int __wrap_fclose(FILE *fp)
{
    for (int i = 0; i < HARNESS_MAX_FILES; ++i)
        if (harness_files[i] == fp) harness_files[i] = NULL;
    return __real_fclose(fp);
}

void __wrap_exit(int status)
{
    if (harness_active) {
        ++harness_exits;
        longjmp(harness_jmp, 1);
    }
    __real_exit(status);
}

/* Frees what the last input left allocated. */
static void harness_release(void)
{
    for (size_t i = 0; i < harness_cap; ++i) {
        if (harness_set[i].p && harness_set[i].p != HARNESS_TOMB) __real_free(harness_set[i].p);
        harness_set[i].p = NULL;
    }
    harness_used = 0;
    harness_live = 0;
    for (int i = 0; i < HARNESS_MAX_FILES; ++i)
        if (harness_files[i]) { __real_fclose(harness_files[i]); harness_files[i] = NULL; }
}

/* Runs fn(arg) as one input: 0 when it returned, 1 when it called exit(), 2 when it asked for
 * more memory than the harness allows. */
static int harness_run(void (*fn)(void *), void *arg)
{
    volatile int outcome = 0;
    harness_active = 1;
    int jumped = setjmp(harness_jmp);
    if (jumped == 0) fn(arg);
    else outcome = jumped;
    harness_active = 0;
    harness_release();
    if (outcome == 0) ++harness_done;
    return outcome;
}

/* A file in $TMPDIR holding the current input, since Darknet reads from paths. */
static char harness_path[4096];

static void harness_make_path(const char *tag)
{
    const char *dir = getenv("TMPDIR");
    snprintf(harness_path, sizeof harness_path, "%s/%s.%ld", dir && *dir ? dir : "/tmp", tag, (long)getpid());
}

static void harness_write(const uint8_t *data, size_t size)
{
    FILE *f = fopen(harness_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
        perror(harness_path);
        abort();
    }
}

#endif
