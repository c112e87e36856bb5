/*
 * web.h: the web self-service (server-rendered HTML in Danish, in the look
 * of Det Fælles Designsystem), served by `dupla serve` itself.
 *
 * Pages call the modules' C functions directly (identity_*, agreement_*,
 * audit_query, catalog_*) with the logged-in user as actor, so the same role
 * rules apply as on the JSON API. Every page answer carries a strict
 * Content-Security-Policy (no inline script or style, frame-ancestors
 * 'none'), X-Content-Type-Options, Referrer-Policy and no-store caching;
 * every form carries a CSRF token; every state change answers with a
 * redirect (POST-redirect-GET) except the two that must show a one-time
 * secret once.
 *
 * The design system's CSS, JavaScript, fonts and icons (npm package dkfds,
 * installed by `npm ci` in web/, never committed) are served from the folder
 * given by "web": {"assets_dir": ...} (default WEB_ASSETS_DEFAULT_DIR, the
 * source tree's web/node_modules/dkfds/dist) under /static/dkfds/<version>/,
 * with the version read from the package, so the paths can be cached as
 * immutable.
 */
#ifndef DUPLA_WEB_WEB_H
#define DUPLA_WEB_WEB_H

#include "core/config.h"
#include "core/error.h"
#include "http/http.h"
#include "store/store.h"

struct identity;
struct agreement;
struct catalog;
struct enrol;

typedef struct web web_t;

/* What the pages need; every handle is borrowed and must outlive the web. */
struct web_deps {
    const struct dupla_config *cfg;
    store_t *store; /* the disclosure log is read from it */
    struct identity *identity;
    struct agreement *agreement;
    const struct catalog *catalog;
    struct expiry *expiry; /* what expires soon, for the organisation's page; may be NULL */
    struct enrol *enrol;   /* applications to become an agreement party */
};

#define WEB_CONFIG_SECTION "web"

/* Reads the "web" config section (assets_dir). A missing assets folder is
 * logged, not fatal: the pages then come unstyled. The caller owns *out. */
int web_open(const struct web_deps *deps, web_t **out, err_t *err);
void web_close(web_t *w);
/* Registers the pages and the assets on every listener. */
int web_routes_register(http_server_t *srv, web_t *w, err_t *err);

#endif
