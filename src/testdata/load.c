/*
 * load.c: generating the deliveries and ingesting them, one after the
 * other, through temporary files (the test deployment's data set, and the
 * demo's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testdata/testdata.h"

#define TESTDATA_TMP_MAX 512

static int to_file(void *cls, str_t b)
{
    return fwrite(b.ptr, 1, b.len, (FILE *)cls) == b.len ? 0 : DUPLA_EIO;
}

int testdata_load(store_t *st, const catalog_t *cat, const struct testdata_options *opt,
                  enum environment env, const char *tmp_dir, testdata_loaded_fn loaded, void *cls,
                  err_t *err)
{
    if (env == ENV_PRODUCTION)
        return err_set(err, DUPLA_EFORBIDDEN,
                       "this is a production deployment: it refuses to generate or load "
                       "synthetic data");
    int rc = testdata_check_options(opt, err);
    if (rc)
        return rc;
    if (!tmp_dir)
        tmp_dir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    for (size_t i = 0; i < TESTDATA_DELIVERIES; i++) {
        const struct catalog_service *svc =
            catalog_find(cat, str_from_cstr(testdata_delivery_service(i)));
        if (!svc)
            return err_set(err, DUPLA_ENOTFOUND, "the catalogue has no service %s",
                           testdata_delivery_service(i));
        char path[TESTDATA_TMP_MAX];
        if (snprintf(path, sizeof path, "%s/dupla-testdata-XXXXXX", tmp_dir) >= (int)sizeof path)
            return err_set(err, DUPLA_EINVAL, "%s: path too long", tmp_dir);
        int fd = mkstemp(path);
        if (fd < 0)
            return err_set(err, DUPLA_EIO, "%s: cannot create a temporary file: %s", tmp_dir,
                           strerror(errno));
        FILE *f = fdopen(fd, "w");
        if (!f) {
            close(fd);
            unlink(path);
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        }
        rc = testdata_generate(opt, i, to_file, f, err);
        if (fclose(f) != 0 && rc == 0)
            rc = err_set(err, DUPLA_EIO, "%s: write error", path);
        if (rc == 0) {
            struct ingest_source src = {.name = testdata_delivery_file(i), .path = path};
            struct ingest_options io = {.environment = env, .source = "testdata"};
            struct ingest_result res;
            rc = ingest_delivery(st, svc, &src, 1, &io, &res, err);
            if (rc && res.n_problems > 0)
                /* the generator and the catalogue disagree: name the first line */
                err_set(err, rc, "%s:%ld: %s: %s", res.problems[0].source, res.problems[0].line,
                        res.problems[0].field, res.problems[0].reason);
            if (rc == 0 && loaded)
                loaded(cls, i, &res);
            ingest_result_free(&res);
        }
        unlink(path);
        if (rc)
            return rc;
    }
    return 0;
}
