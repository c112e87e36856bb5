/*
 * replay.c: the corpus replay driver. Linked with one fuzz target instead
 * of libFuzzer, it feeds every file named on the command line (a folder:
 * every file in it, in name order) to LLVMFuzzerTestOneInput once. Built
 * by gcc with the tests, so `make check` replays every seed corpus in the
 * normal and the sanitizer builds without a clang build; a crash or a
 * failed property aborts the test.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_FILE_MAX (16u * 1024 * 1024)

/* A target that needs no set-up defines no LLVMFuzzerInitialize. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *data = malloc(REPLAY_FILE_MAX);
    size_t n = data ? fread(data, 1, REPLAY_FILE_MAX, f) : 0;
    bool err = !data || ferror(f) || !feof(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "replay: %s: cannot read it whole\n", path);
        free(data);
        return -1;
    }
    /* An exact-size copy, so that ASan sees a read past the input. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact)
        abort();
    memcpy(exact, data, n);
    free(data);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names)
                abort();
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == 0 && run_file(path) == 0)
            (*count)++;
        else
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = run_dir(argv[i], &count);
        } else if (run_file(argv[i]) == 0) {
            count++;
        } else {
            rc = -1;
        }
    }
    if (rc == 0 && count == 0) {
        fprintf(stderr, "replay: no input given\n");
        rc = -1;
    }
    if (rc == 0)
        printf("replay: %zu inputs, no finding\n", count);
    return rc == 0 ? 0 : 1;
}
