/*
 * router.c: the routing table.
 *
 * Routes are registered before the server starts and never change after,
 * so matching reads the table without a lock. The table is small (tens of
 * routes), so matching is a linear scan; a route is found by (listener,
 * decoded path, method):
 *   - an exact route for the path wins over every prefix route, and a
 *     longer prefix over a shorter one;
 *   - the winning path's routes decide the method: none of them takes it
 *     gives 405 with their methods in Allow;
 *   - no route for the path on this listener gives 404.
 * GET routes answer HEAD as well (libmicrohttpd sends no body for HEAD),
 * except those marked HTTP_ROUTE_NO_HEAD. A dedicated listener serves only
 * the routes that name it, need a client certificate, or are marked
 * HTTP_ROUTE_ANY_LISTENER.
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

static const struct {
    enum http_method method;
    const char *name;
} methods[] = {
    {HTTP_GET, "GET"}, {HTTP_HEAD, "HEAD"},   {HTTP_POST, "POST"},
    {HTTP_PUT, "PUT"}, {HTTP_PATCH, "PATCH"}, {HTTP_DELETE, "DELETE"},
};
#define N_METHODS   (sizeof methods / sizeof methods[0])
#define ALL_METHODS (HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE)

const char *http_method_name(enum http_method m)
{
    for (size_t i = 0; i < N_METHODS; i++)
        if (methods[i].method == m)
            return methods[i].name;
    return NULL;
}

enum http_method http_method_parse(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < N_METHODS; i++)
        if (strcmp(methods[i].name, name) == 0)
            return methods[i].method;
    return 0;
}

void http_methods_format(unsigned set, char *out, size_t cap)
{
    size_t used = 0;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < N_METHODS; i++) {
        if (!(set & methods[i].method))
            continue;
        int n = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", methods[i].name);
        if (n < 0 || (size_t)n >= cap - used) {
            out[used] = '\0'; /* whole names only */
            return;
        }
        used += (size_t)n;
    }
}

/* A route's methods with HEAD added where GET is (unless it refuses HEAD). */
static unsigned effective_methods(const struct http_route *r)
{
    if ((r->methods & HTTP_GET) && !(r->flags & HTTP_ROUTE_NO_HEAD))
        return r->methods | HTTP_HEAD;
    return r->methods;
}

bool http_router_dedicated(const struct http_router *rt, const char *listener)
{
    for (size_t i = 0; listener && i < rt->n_dedicated; i++)
        if (strcmp(rt->dedicated[i], listener) == 0)
            return true;
    return false;
}

static bool listener_matches(const struct http_router *rt, const struct http_route *r,
                             const char *listener)
{
    if (r->listener)
        return listener && strcmp(r->listener, listener) == 0;
    if (r->flags & (HTTP_ROUTE_CLIENT_CERT | HTTP_ROUTE_ANY_LISTENER))
        return true;
    return !http_router_dedicated(rt, listener);
}

static char *dup_bounded(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return NULL;
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static bool path_acceptable(str_t p)
{
    if (p.len == 0 || p.ptr[0] != '/')
        return false;
    for (size_t i = 0; i < p.len; i++) {
        unsigned char c = (unsigned char)p.ptr[i];
        if (c < 0x20 || c == 0x7f || c == '?' || c == '#')
            return false;
    }
    return utf8_valid(p);
}

int http_router_add(struct http_router *rt, const struct http_route *r, err_t *err)
{
    if (!r || !r->path || !r->handler)
        return err_set(err, DUPLA_EINVAL, "route: path and handler are required");
    if (r->methods == 0 || (r->methods & ~(unsigned)ALL_METHODS))
        return err_set(err, DUPLA_EINVAL, "route %s: no valid method", r->path);
    if (rt->n >= HTTP_MAX_ROUTES)
        return err_set(err, DUPLA_ELIMIT, "route %s: more than %d routes", r->path,
                       HTTP_MAX_ROUTES);
    size_t plen = strnlen(r->path, HTTP_PATH_MAX_ROUTE + 1);
    if (plen > HTTP_PATH_MAX_ROUTE || !path_acceptable((str_t){r->path, plen}))
        return err_set(err, DUPLA_EINVAL,
                       "route %.64s: a path starts with '/', is valid UTF-8 without control "
                       "characters, '?' or '#', and has at most %d bytes",
                       r->path, HTTP_PATH_MAX_ROUTE);
    bool prefix = r->flags & HTTP_ROUTE_PREFIX;
    for (size_t i = 0; i < rt->n; i++) {
        const struct http_route_entry *e = &rt->routes[i];
        bool same_listener =
            !e->route.listener || !r->listener || strcmp(e->route.listener, r->listener) == 0;
        bool same_kind = ((e->route.flags & HTTP_ROUTE_PREFIX) != 0) == prefix;
        if (same_listener && same_kind && e->path_len == plen &&
            memcmp(e->route.path, r->path, plen) == 0 &&
            (effective_methods(&e->route) & effective_methods(r)))
            return err_set(err, DUPLA_ECONFLICT, "route %s: registered twice for a method",
                           r->path);
    }
    struct http_route_entry *grown = realloc(rt->routes, (rt->n + 1) * sizeof *grown);
    if (!grown)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    rt->routes = grown;
    struct http_route_entry *e = &rt->routes[rt->n];
    memset(e, 0, sizeof *e);
    e->route = *r;
    e->route.path = dup_bounded(r->path, HTTP_PATH_MAX_ROUTE);
    e->route.listener = r->listener ? dup_bounded(r->listener, CONFIG_NAME_MAX) : NULL;
    e->route.name = dup_bounded(r->name ? r->name : r->path, HTTP_PATH_MAX_ROUTE);
    if (!e->route.path || !e->route.name || (r->listener && !e->route.listener)) {
        free((char *)e->route.path);
        free((char *)e->route.listener);
        free((char *)e->route.name);
        return err_set(err, DUPLA_EINVAL, "route %s: listener or name too long", r->path);
    }
    e->path_len = plen;
    e->index = rt->n;
    rt->n++;
    return 0;
}

enum http_match http_router_match(const struct http_router *rt, const char *listener, str_t path,
                                  enum http_method method, const struct http_route_entry **out,
                                  unsigned *allowed)
{
    *out = NULL;
    *allowed = 0;
    /* The most specific path first: exact, else the longest prefix. */
    bool exact = false;
    size_t best_len = 0;
    bool found = false;
    for (size_t i = 0; i < rt->n; i++) {
        const struct http_route_entry *e = &rt->routes[i];
        if (!listener_matches(rt, &e->route, listener))
            continue;
        if (!(e->route.flags & HTTP_ROUTE_PREFIX)) {
            if (e->path_len == path.len && memcmp(e->route.path, path.ptr, path.len) == 0) {
                exact = true;
                found = true;
            }
        } else if (!exact && e->path_len <= path.len &&
                   memcmp(e->route.path, path.ptr, e->path_len) == 0 &&
                   (!found || e->path_len > best_len)) {
            best_len = e->path_len;
            found = true;
        }
    }
    if (!found)
        return HTTP_MATCH_NO_PATH;
    for (size_t i = 0; i < rt->n; i++) {
        const struct http_route_entry *e = &rt->routes[i];
        if (!listener_matches(rt, &e->route, listener))
            continue;
        bool is_prefix = e->route.flags & HTTP_ROUTE_PREFIX;
        bool same = exact ? (!is_prefix && e->path_len == path.len &&
                             memcmp(e->route.path, path.ptr, path.len) == 0)
                          : (is_prefix && e->path_len == best_len &&
                             memcmp(e->route.path, path.ptr, best_len) == 0);
        if (!same)
            continue;
        unsigned m = effective_methods(&e->route);
        *allowed |= m;
        if ((m & method) && !*out)
            *out = e;
    }
    return *out ? HTTP_MATCH_OK : HTTP_MATCH_NO_METHOD;
}

void http_router_free(struct http_router *rt)
{
    for (size_t i = 0; i < rt->n; i++) {
        free((char *)rt->routes[i].route.path);
        free((char *)rt->routes[i].route.listener);
        free((char *)rt->routes[i].route.name);
    }
    free(rt->routes);
    rt->routes = NULL;
    rt->n = 0;
}
