/*
 * load.c: reading the catalogue files into a catalogue.
 *
 * Each file is parsed with jansson (duplicate keys refused, so a syntax error
 * names file:line:column), then checked by service.c, which refuses unknown
 * keys, names the JSON path of every problem ("fields[3].type") and copies
 * every string into the catalogue's arena, so the parsed JSON is dropped as
 * soon as a file has been read. Two services may not share a name; the
 * catalogue is sorted by path.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/internal.h"
#include "catalog/catalog_default.h"
#include "core/arena.h"
#include "core/json.h"

#define CATALOG_ARENA_MAX (16u * 1024 * 1024)
#define CATALOG_DIR_MAX   512

static int cmp_service(const void *a, const void *b)
{
    const struct catalog_service *x = a, *y = b;
    return strcmp(x->path, y->path);
}

static int add_text(catalog_t *cat, const char *file, const char *text, size_t len, err_t *err)
{
    if (cat->n >= CATALOG_MAX_SERVICES)
        return err_set(err, DUPLA_ELIMIT, "%s: more than %d services", file, CATALOG_MAX_SERVICES);
    json_error_t jerr;
    json_t *root = json_parse(text, len, JSON_REJECT_DUPLICATES, &jerr, NULL);
    if (!root)
        return err_set(err, DUPLA_EINVAL, "%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
    struct catalog_service *s = &cat->services[cat->n];
    int rc = catalog_service_parse(cat, file, root, s, err);
    json_decref(root);
    if (rc)
        return rc;
    if (!(s->file = arena_strdup(cat->arena, str_from_cstr(file))))
        return err_set(err, DUPLA_ENOMEM, "%s: out of memory", file);
    for (size_t i = 0; i < cat->n; i++) {
        const struct catalog_service *o = &cat->services[i];
        const char *names[2] = {s->path, s->alias};
        for (int j = 0; j < 2; j++)
            if (strcmp(names[j], o->path) == 0 || strcmp(names[j], o->alias) == 0)
                return err_param(err, DUPLA_EINVAL, j ? "alias" : "path",
                                 "%s: %s: \"%s\" is also a name of the service in %s", file,
                                 j ? "alias" : "path", names[j], o->file);
    }
    cat->n++;
    return 0;
}

static catalog_t *catalog_new(void)
{
    catalog_t *cat = calloc(1, sizeof *cat);
    if (!cat)
        return NULL;
    cat->arena = arena_new(CATALOG_ARENA_MAX);
    if (!cat->arena) {
        free(cat);
        return NULL;
    }
    return cat;
}

void catalog_free(catalog_t *cat)
{
    if (!cat)
        return;
    arena_free(cat->arena);
    free(cat);
}

static int finish(catalog_t *cat, catalog_t **out, err_t *err, const char *where)
{
    if (cat->n == 0) {
        catalog_free(cat);
        return err_set(err, DUPLA_EINVAL, "%s: no service descriptions (*.json) found", where);
    }
    qsort(cat->services, cat->n, sizeof cat->services[0], cmp_service);
    /* The fields' role pointers survive the sort: they point into arena
     * arrays, not into the services array. */
    *out = cat;
    return 0;
}

int catalog_load_string(const char *name, const char *text, catalog_t **out, err_t *err)
{
    *out = NULL;
    catalog_t *cat = catalog_new();
    if (!cat)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    int rc = add_text(cat, name, text, strlen(text), err);
    if (rc) {
        catalog_free(cat);
        return rc;
    }
    return finish(cat, out, err, name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file of at most CATALOG_MAX_FILE bytes into a malloc'd
 * buffer (the caller frees it). */
static int read_file(const char *path, char **data, size_t *len, err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(err, DUPLA_EIO, "%s: cannot open: %m", path);
    char *buf = malloc(CATALOG_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return err_set(err, DUPLA_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, CATALOG_MAX_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return err_set(err, DUPLA_EIO, "%s: read error", path);
    }
    if (n > CATALOG_MAX_FILE) {
        free(buf);
        return err_set(err, DUPLA_ELIMIT, "%s: larger than %d bytes", path, CATALOG_MAX_FILE);
    }
    *data = buf;
    *len = n;
    return 0;
}

int catalog_load_dir(const char *dir, catalog_t **out, err_t *err)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return err_set(err, DUPLA_EIO, "%s: cannot open the catalogue folder: %m", dir);
    char *names[CATALOG_MAX_SERVICES + 1];
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        if (n > CATALOG_MAX_SERVICES) {
            rc = err_set(err, DUPLA_ELIMIT, "%s: more than %d service files", dir,
                         CATALOG_MAX_SERVICES);
            break;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = err_set(err, DUPLA_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    catalog_t *cat = NULL;
    if (!rc && !(cat = catalog_new()))
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
    if (!rc)
        qsort(names, n, sizeof names[0], by_name);
    for (size_t i = 0; !rc && i < n; i++) {
        char path[CATALOG_DIR_MAX + 256];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            rc = err_set(err, DUPLA_EINVAL, "%s/%s: path too long", dir, names[i]);
            break;
        }
        char *data = NULL;
        size_t len = 0;
        if ((rc = read_file(path, &data, &len, err)))
            break;
        rc = add_text(cat, path, data, len, err);
        free(data);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    if (rc) {
        catalog_free(cat);
        return rc;
    }
    return finish(cat, out, err, dir);
}

int catalog_config_dir(const struct dupla_config *cfg, char *out, size_t cap, err_t *err)
{
    json_t *sec = config_section(cfg, CATALOG_CONFIG_SECTION);
    static const char *const keys[] = {"dir", NULL};
    const char *dir;
    int rc = config_only_keys(sec, CATALOG_CONFIG_SECTION, keys, err);
    if (rc == 0)
        rc = config_get_string(sec, "catalog", "dir", NULL, &dir, err);
    if (rc)
        return rc;
    if (!dir) {
        if (snprintf(out, cap, "%s", DUPLA_CATALOG_DEFAULT_DIR) >= (int)cap)
            return err_set(err, DUPLA_EINVAL, "catalog.dir: default path too long");
        return 0;
    }
    if (config_resolve_path(cfg, dir, out, cap))
        return err_param(err, DUPLA_EINVAL, "catalog.dir", "%s: catalog.dir: path too long",
                         cfg->path);
    return 0;
}
