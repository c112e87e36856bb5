/*
 * internal.h: the catalogue's private layout, shared by the files of
 * src/catalog/ only.
 */
#ifndef DUPLA_CATALOG_INTERNAL_H
#define DUPLA_CATALOG_INTERNAL_H

#include "catalog/catalog.h"
#include "core/arena.h"

struct catalog {
    arena_t *arena; /* every string and array of the catalogue */
    size_t n;
    struct catalog_service services[CATALOG_MAX_SERVICES]; /* sorted by path */
};

/* service.c */
/* Checks root, the JSON of file, into *s (strings in cat's arena). 0, or
 * DUPLA_EINVAL with err naming file and the JSON path of the problem. */
int catalog_service_parse(catalog_t *cat, const char *file, const json_t *root,
                          struct catalog_service *s, err_t *err);

#endif
