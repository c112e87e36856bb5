/*
 * fuzz.h: what the fuzz targets share. Each fuzz_<name>.c defines
 * LLVMFuzzerTestOneInput (and, when it needs set-up, LLVMFuzzerInitialize);
 * it is linked either with libFuzzer (-Dfuzz=true, clang) or with
 * replay.c, the driver that feeds each file of a seed corpus once (the
 * meson tests of suite 'fuzz', in every normal and sanitizer build).
 *
 * A target checks a property with FUZZ_CHECK: a failure prints where and
 * aborts, which libFuzzer reports as a crash with the input saved.
 */
#ifndef DUPLA_FUZZ_H
#define DUPLA_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <ftw.h>
#include <unistd.h>

#include "core/error.h"
#include "core/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input as a string (not NUL-terminated). */
static inline str_t fuzz_str(const uint8_t *data, size_t size)
{
    return (str_t){(const char *)data, size};
}

/* Takes the next piece of *in up to the separator byte sep (or the rest):
 * the way a target splits one input into several fields. */
static inline str_t fuzz_take(str_t *in, char sep)
{
    str_t head, tail;
    if (str_split(*in, sep, &head, &tail)) {
        *in = tail;
        return head;
    }
    head = *in;
    *in = (str_t){in->ptr + in->len, 0};
    return head;
}

/* A malloc'd NUL-terminated copy of s (NUL bytes in s stay; the C string
 * ends at the first). */
static inline char *fuzz_cstr(str_t s)
{
    char *c = malloc(s.len + 1);
    if (!c)
        abort();
    for (size_t i = 0; i < s.len; i++)
        c[i] = s.ptr[i];
    c[s.len] = '\0';
    return c;
}

/* true if s is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF): the targets' own check, written
 * apart from the code under test. */
static inline bool fuzz_utf8_valid(str_t s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0, n = s.len;
    while (i < n) {
        unsigned c = p[i];
        size_t k;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* Set-up that cannot fail in a sound build: print why and stop. */
static inline void fuzz_must(int rc, const err_t *err, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "fuzz set-up: %s: %s\n", what, err ? err->log : "");
        abort();
    }
}

static int fuzz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char fuzz_dir_path[64];

static void fuzz_rm_dir(void)
{
    if (fuzz_dir_path[0])
        nftw(fuzz_dir_path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A private folder /tmp/dupla-fuzz-<tag>-XXXXXX for a target's store and
 * keys, removed at exit. One per process. */
static inline const char *fuzz_tmpdir(const char *tag)
{
    /* In memory when the machine has a tmpfs there: the targets that write a
     * store commit once per input, and an fsync to disk per input would
     * make them some ten times slower. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/dupla-fuzz-%s-XXXXXX", base, tag);
    if (!mkdtemp(fuzz_dir_path))
        abort();
    atexit(fuzz_rm_dir);
    return fuzz_dir_path;
}

#endif
