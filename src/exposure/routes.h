/*
 * routes.h: the exposure module's HTTP edge (see routes.c for the routes).
 */
#ifndef DUPLA_EXPOSURE_ROUTES_H
#define DUPLA_EXPOSURE_ROUTES_H

#include "exposure/exposure.h"
#include "http/http.h"

struct exposure_routes_options {
    const char *listener;   /* serve only on this listener; NULL: on all */
    const char *server_url; /* the OpenAPI document's server URL; NULL: "/" */
    const char *token_url;  /* the token endpoint in the document; NULL: "/token" */
    /* Adds a higher module's paths to the OpenAPI document (the test-data
     * API); NULL: none. Nonzero fails the registration. */
    int (*openapi_extend)(json_t *doc, void *ctx);
    void *openapi_ctx;
};

/* Registers every service's path and alias, /openapi.json, /servicekatalog
 * and /servicekatalog.json on srv. ex must outlive srv; opt is read now. */
int exposure_routes_register(http_server_t *srv, exposure_t *ex,
                             const struct exposure_routes_options *opt, err_t *err);

#endif
