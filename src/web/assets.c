/*
 * assets.c: the static files. Det Fælles Designsystem (dkfds) from the
 * configured folder under /static/dkfds/<version>/ (cached a year,
 * immutable: the version is in the path), and the site's own small script
 * and style sheet, compiled in (cached an hour: their paths do not change).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "web/internal.h"

/* Starts the design system's components, and the session warning (WCAG
 * 2.2.1): a little before the idle expiry the warning shows how long is left
 * and offers to stay logged in (GET /session/forny keeps the session alive,
 * 204); at the expiry the page goes to /, which the server sends on to the
 * login page when the session really ended (another tab may have kept it
 * alive). No inline script: the CSP forbids it. */
static const char dupla_js[] =
    "'use strict';\n"
    "document.addEventListener('DOMContentLoaded', function () {\n"
    "  if (window.DKFDS && typeof window.DKFDS.init === 'function') { window.DKFDS.init(); }\n"
    "  var idle = parseInt(document.body.getAttribute('data-session-idle') || '0', 10);\n"
    "  var warn = document.getElementById('session-warning');\n"
    "  var left = document.getElementById('session-left');\n"
    "  var extend = document.getElementById('session-extend');\n"
    "  if (!(idle > 0 && warn)) { return; }\n"
    "  var lead = Math.min(120, Math.floor(idle / 3));\n"
    "  var timers = [];\n"
    "  function text(s) { return s >= 90 ? Math.round(s / 60) + ' minutter' : s + ' sekunder'; }\n"
    "  function arm() {\n"
    "    timers.forEach(window.clearTimeout);\n"
    "    warn.classList.add('d-none');\n"
    "    timers = [window.setTimeout(function () {\n"
    "      if (left) { left.textContent = text(lead); }\n"
    "      warn.classList.remove('d-none');\n"
    "    }, (idle - lead) * 1000), window.setTimeout(function () {\n"
    "      window.location.assign('/');\n"
    "    }, idle * 1000 + 1000)];\n"
    "  }\n"
    "  if (extend) {\n"
    "    extend.addEventListener('click', function () {\n"
    "      window.fetch('/session/forny', { credentials: 'same-origin', redirect: 'manual',\n"
    "                                       cache: 'no-store' })\n"
    "        .then(function (r) { if (r.status === 204) { arm(); } else {\n"
    "          window.location.assign('/login?udloebet=1'); } })\n"
    "        .catch(function () { window.location.assign('/'); });\n"
    "    });\n"
    "  }\n"
    "  arm();\n"
    "});\n";

static const char dupla_css[] =
    ".dupla-brand { font-weight: 700; font-size: 2.4rem; color: #1a1a1a; text-decoration: none; "
    "letter-spacing: 0.1em; }\n"
    ".portal-user form { display: inline-block; }\n"
    ".portal-info-mobile form { display: block; }\n"
    ".secret { font-family: monospace; font-size: 1.8rem; }\n"
    ".field-list { margin-top: 0; }\n"
    ".inline-form { display: inline-block; margin-right: 0.8rem; }\n"
    ".fingerprint { font-family: monospace; word-break: break-all; }\n";

static int h_own(http_request_t *req, void *ctx, err_t *err)
{
    (void)ctx;
    (void)err;
    bool js = str_eq_cstr(http_req_path(req), "/static/dupla.js");
    http_reply_header(req, "Cache-Control", "public, max-age=3600");
    return js ? http_reply_data(req, 200, "text/javascript; charset=utf-8",
                                (str_t){dupla_js, sizeof dupla_js - 1})
              : http_reply_data(req, 200, "text/css; charset=utf-8",
                                (str_t){dupla_css, sizeof dupla_css - 1});
}

static const struct {
    const char *ext, *type;
} types[] = {
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".ttf", "font/ttf"},
    {".eot", "application/vnd.ms-fontobject"},
};

static const char *content_type(str_t path)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t n = strlen(types[i].ext);
        if (path.len > n && memcmp(path.ptr + path.len - n, types[i].ext, n) == 0)
            return types[i].type;
    }
    return NULL;
}

static int not_found(http_request_t *req, err_t *err)
{
    (void)req;
    return err_set(err, DUPLA_ENOTFOUND, "no such file");
}

/* GET /static/dkfds/<version>/<file>: the version must be the installed
 * one; the file name only plain characters (the server has already refused
 * "." and ".." segments); the type one of the known ones. */
static int h_dkfds(http_request_t *req, void *ctx, err_t *err)
{
    web_t *w = ctx;
    str_t path = http_req_path(req);
    str_t prefix = STR("/static/dkfds/");
    str_t rest = str_sub(path, prefix.len, path.len - prefix.len), version, file;
    if (!str_split(rest, '/', &version, &file) || !str_eq_cstr(version, w->assets_version) ||
        file.len == 0 || file.len > 200)
        return not_found(req, err);
    for (size_t i = 0; i < file.len; i++) {
        char c = file.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '/'))
            return not_found(req, err);
    }
    const char *type = content_type(file);
    if (!type)
        return not_found(req, err);
    char full[CONFIG_PATH_MAX + 256];
    snprintf(full, sizeof full, "%s/%.*s", w->assets_dir, STR_FMT(file));
    FILE *f = fopen(full, "rb");
    if (!f)
        return not_found(req, err);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_ASSET_MAX) {
        fclose(f);
        return not_found(req, err);
    }
    size_t n = (size_t)st.st_size;
    char *data = malloc(n ? n : 1);
    if (!data) {
        fclose(f);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    size_t got = fread(data, 1, n, f);
    fclose(f);
    if (got != n) {
        free(data);
        return err_internal(err, DUPLA_EIO, "web: short read of %s", full);
    }
    char cc[64];
    snprintf(cc, sizeof cc, "public, max-age=%d, immutable", WEB_ASSET_MAX_AGE);
    http_reply_header(req, "Cache-Control", cc);
    int rc = http_reply_data(req, 200, type, (str_t){data, n});
    free(data);
    return rc;
}

int assets_register(http_server_t *srv, web_t *w, err_t *err)
{
    struct http_route r[] = {
        {.methods = HTTP_GET, .path = "/static/dupla.js", .handler = h_own, .ctx = w},
        {.methods = HTTP_GET, .path = "/static/dupla.css", .handler = h_own, .ctx = w},
        {.methods = HTTP_GET,
         .path = "/static/dkfds/",
         .handler = h_dkfds,
         .ctx = w,
         .flags = HTTP_ROUTE_PREFIX,
         .name = "/static/dkfds/"},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        int rc = http_route_add(srv, &r[i], err);
        if (rc)
            return rc;
    }
    return 0;
}
