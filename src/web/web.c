/*
 * web.c: opening the web module (its config section, the assets folder and
 * dkfds's version) and registering its routes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "web/internal.h"
#include "web/web_default.h"

/* dkfds's version from <assets_dir>/../package.json, so that an upgrade
 * changes every asset path (which are cached as immutable). */
static void read_version(web_t *w)
{
    char path[CONFIG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/../package.json", w->assets_dir);
    json_error_t jerr;
    json_t *pkg = json_load_file(path, 0, &jerr);
    const char *v = pkg ? json_string_value(json_object_get(pkg, "version")) : NULL;
    bool ok = v && strlen(v) < sizeof w->assets_version && strspn(v, "0123456789.") == strlen(v);
    snprintf(w->assets_version, sizeof w->assets_version, "%s", ok ? v : "0");
    if (!ok)
        log_warn("web: no dkfds package in %s (run `npm ci` in web/): pages come unstyled",
                 w->assets_dir);
    json_decref(pkg);
}

int web_open(const struct web_deps *deps, web_t **out, err_t *err)
{
    *out = NULL;
    web_t *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    w->deps = *deps;
    json_t *sec = config_section(deps->cfg, WEB_CONFIG_SECTION);
    const char *dir = NULL;
    static const char *const keys[] = {"assets_dir", NULL};
    int rc = config_only_keys(sec, WEB_CONFIG_SECTION, keys, err);
    if (rc == 0)
        rc = config_get_string(sec, WEB_CONFIG_SECTION, "assets_dir", NULL, &dir, err);
    if (rc) {
        free(w);
        return rc;
    }
    if (dir) {
        if (config_resolve_path(deps->cfg, dir, w->assets_dir, sizeof w->assets_dir) != 0) {
            free(w);
            return err_param(err, DUPLA_EINVAL, "web.assets_dir", "path too long");
        }
    } else {
        snprintf(w->assets_dir, sizeof w->assets_dir, "%s", WEB_ASSETS_DEFAULT_DIR);
    }
    long long idle = IDENTITY_DEFAULT_SESSION_IDLE_S;
    json_t *idsec = config_section(deps->cfg, "identity");
    if (idsec && json_is_integer(json_object_get(idsec, "session_idle_seconds")))
        idle = json_integer_value(json_object_get(idsec, "session_idle_seconds"));
    w->session_idle_ms = idle * 1000;
    read_version(w);
    log_info("web: assets from %s (dkfds %s)", w->assets_dir, w->assets_version);
    *out = w;
    return 0;
}

void web_close(web_t *w)
{
    free(w);
}

const struct http_param web_query_own[] = {{"", HTTP_PARAM_ANY}, {0}};

/* The route's query against its table: 0, or the 400 page naming the
 * parameter (answered). */
static int query_or_reply(struct web_ctx *cx, const struct http_param *params, int *rc)
{
    if (params == web_query_own)
        return 0;
    err_t e;
    err_clear(&e);
    if (http_query_check(cx->req, params ? params : http_params_none, &e) == 0)
        return 0;
    str_t path = http_req_path(cx->req);
    log_info("web: %.*s: refused query: %s", (int)path.len, path.ptr, e.log);
    char *msg = arena_printf(http_req_arena(cx->req),
                             "Adressen indeholder en parameter, siden ikke kender eller ikke kan "
                             "bruge: »%s«. Gå tilbage og brug linkene på siderne.",
                             e.param[0] ? e.param : "?");
    *rc = web_reply_message(cx, 400, "Ugyldig adresse",
                            msg ? msg : "Adressen indeholder en ugyldig parameter.");
    return 1;
}

/* The handler of every page route: begins cx as the route says, checks
 * the query against the route's table, runs the page unless one of those
 * has answered already, and ends cx. */
static int page_dispatch(http_request_t *req, void *ctx, err_t *err)
{
    const struct web_page_binding *b = ctx;
    struct web_ctx cx;
    int rc = 0;
    int answered;
    switch (b->route->begin) {
    case WEB_BEGIN_PUBLIC:
        answered = web_begin_public_or_reply(b->w, req, &cx);
        break;
    case WEB_BEGIN_UPLOAD:
        answered = web_begin_upload_or_reply(b->w, req, &cx, &cx.upload, &cx.upload_error);
        break;
    default:
        answered = web_begin_or_reply(b->w, req, &cx);
        break;
    }
    if (!answered && !query_or_reply(&cx, b->route->query, &rc))
        rc = b->route->page(&cx, err);
    web_end(&cx);
    return rc;
}

int web_routes(http_server_t *srv, web_t *w, const struct web_page_route *r, size_t n, err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        size_t max = r[i].max_body ? r[i].max_body : WEB_FORM_MAX_BODY;
        struct http_route hr = {.methods = r[i].methods,
                                .path = r[i].path,
                                .handler = r[i].fn,
                                .ctx = w,
                                .max_body = (r[i].methods & HTTP_POST) ? max : 0};
        if (r[i].page) {
            if (w->n_pages == WEB_PAGES_MAX)
                return err_set(err, DUPLA_ELIMIT, "web: more than %d page routes", WEB_PAGES_MAX);
            struct web_page_binding *b = &w->pages[w->n_pages++];
            b->w = w;
            b->route = &r[i];
            hr.handler = page_dispatch;
            hr.ctx = b;
        }
        int rc = http_route_add(srv, &hr, err);
        if (rc)
            return rc;
    }
    return 0;
}

int web_routes_register(http_server_t *srv, web_t *w, err_t *err)
{
    int rc = assets_register(srv, w, err);
    if (rc == 0)
        rc = pages_auth_register(srv, w, err);
    if (rc == 0)
        rc = pages_org_register(srv, w, err);
    if (rc == 0)
        rc = pages_onboarding_register(srv, w, err);
    if (rc == 0)
        rc = pages_systems_register(srv, w, err);
    if (rc == 0)
        rc = pages_authorisation_register(srv, w, err);
    if (rc == 0)
        rc = pages_agreement_register(srv, w, err);
    if (rc == 0)
        rc = pages_disclosure_register(srv, w, err);
    if (rc == 0)
        rc = pages_usage_register(srv, w, err);
    if (rc == 0)
        rc = pages_events_register(srv, w, err);
    if (rc == 0)
        rc = pages_template_register(srv, w, err);
    if (rc == 0 && w->deps.enrol)
        rc = pages_enrol_register(srv, w, err);
    if (rc == 0)
        rc = pages_testdata_register(srv, w, err);
    if (rc == 0)
        rc = pages_erratum_register(srv, w, err);
    return rc;
}
