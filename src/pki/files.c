/*
 * files.c: the pki module's file handling. Keys must never be readable by
 * others even for a moment, and a half-written certificate must never be seen,
 * so every write goes to a temporary file created with mode 0600 in the same
 * folder, gets its final mode, is synced, and is then renamed (or, when the
 * target must not exist yet, hard-linked) into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/problem.h"
#include "core/rand.h"
#include "pki/internal.h"

int pki_path(char *out, const char *dir, const char *name, err_t *err)
{
    int n = snprintf(out, PKI_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= PKI_PATH_MAX)
        return err_param(err, DUPLA_ELIMIT, "dir", "path too long");
    return 0;
}

bool pki_file_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int pki_file_read(const char *path, buf_t *b, err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(err, DUPLA_ENOTFOUND, "%s: no such file", path);
        return err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    }
    int rc = 0;
    char chunk[4096];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        if (buf_append(b, chunk, (size_t)got) != 0) {
            rc = err_set(err, DUPLA_ELIMIT, "%s: file too large", path);
            break;
        }
    }
    secret_wipe(chunk, sizeof chunk); /* key files pass through */
    close(fd);
    return rc;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int pki_file_write(const char *path, const void *data, size_t n, unsigned mode, bool exclusive,
                   err_t *err)
{
    char tmp[PKI_PATH_MAX];
    int len = snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
    if (len < 0 || len >= (int)sizeof tmp)
        return err_set(err, DUPLA_ELIMIT, "%s: path too long", path);
    if (exclusive && pki_file_exists(path))
        return err_refuse(err, DUPLA_ECONFLICT, PROBLEM_FILE_EXISTS, NULL,
                          "%s already exists; not overwriting it", path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0)
        return err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    int rc = 0;
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, n) != 0 || fsync(fd) != 0) {
        rc = err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (close(fd) != 0) {
        rc = err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    } else if (exclusive) {
        /* link() fails if path exists, so a racing writer cannot be clobbered. */
        if (link(tmp, path) != 0)
            rc = errno == EEXIST ? err_refuse(err, DUPLA_ECONFLICT, PROBLEM_FILE_EXISTS, NULL,
                                              "%s already exists; not overwriting it", path)
                                 : err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    } else if (rename(tmp, path) != 0) {
        rc = err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    }
    unlink(tmp); /* after rename it is gone already; after link, drop the extra name */
    return rc;
}

int pki_mkdir(const char *dir, err_t *err)
{
    char path[PKI_PATH_MAX];
    size_t len = strnlen(dir, PKI_PATH_MAX);
    if (len == 0)
        return err_param(err, DUPLA_EINVAL, "dir", "no folder given");
    if (len >= PKI_PATH_MAX)
        return err_param(err, DUPLA_ELIMIT, "dir", "path too long");
    memcpy(path, dir, len + 1);
    /* Each prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, PKI_MODE_DIR) == 0) {
            if (chmod(path, PKI_MODE_DIR) != 0) /* undo the umask, exactly 0700 */
                return err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
        } else if (errno != EEXIST) {
            return err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
        }
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_param(err, DUPLA_EIO, "dir", "%s is not a folder", dir);
    return 0;
}
