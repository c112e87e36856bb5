/*
 * json.c: see json.h.
 */
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#define JSON_TEXT_FIRST 256

/* Set when an allocation jansson asked for on this thread failed. */
static _Thread_local bool failed_here;

static void *json_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        failed_here = true;
    return p;
}

__attribute__((constructor)) static void json_init(void)
{
    json_set_alloc_funcs(json_malloc, free);
}

struct sink {
    char *p;
    size_t len, cap;
    bool failed; /* sticky: jansson may go on after a failed write */
};

static int sink_put(const char *buf, size_t n, void *data)
{
    struct sink *s = data;
    if (s->failed)
        return -1;
    if (n + 1 > s->cap - s->len) {
        size_t cap = s->cap ? s->cap : JSON_TEXT_FIRST;
        while (n + 1 > cap - s->len)
            cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) {
            s->failed = true;
            return -1;
        }
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->len, buf, n);
    s->len += n;
    s->p[s->len] = '\0';
    return 0;
}

char *json_text(const json_t *j, size_t flags)
{
    struct sink s = {0};
    failed_here = false;
    if (!j || json_dump_callback(j, sink_put, &s, flags) != 0 || s.failed || failed_here || !s.p) {
        free(s.p);
        return NULL;
    }
    return s.p;
}

json_t *json_parse(const char *p, size_t n, size_t flags, json_error_t *e, bool *oom)
{
    json_error_t local;
    if (!e)
        e = &local;
    json_t *j = NULL;
    bool short_of_memory = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        failed_here = false;
        j = json_loadb(p, n, flags, e);
        short_of_memory = failed_here;
        if (!short_of_memory)
            break;
        json_decref(j);
        j = NULL;
    }
    if (oom)
        *oom = short_of_memory;
    return j;
}
