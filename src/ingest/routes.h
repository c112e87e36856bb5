/*
 * routes.h: deliveries over HTTPS, the ingest module's top edge.
 *
 *   POST /ingest/<service>[?delivery_id=ID&synthetic=true]
 *        body: an NDJSON delivery (as `dupla ingest` reads), at most
 *        INGEST_HTTP_MAX_BODY bytes (and the server's limits.max_body_bytes)
 *        201 {status: "accepted", delivery_id, records, new_versions, unchanged, ...}
 *        200 the same with status "already-delivered" (nothing changed)
 *        422 problem+json "delivery-rejected" with problems [{line, field, reason}]
 *        403 not a source system, or refused here (environment); 409 the
 *        delivery id was used for other content; 404 unknown service
 *
 * Only source systems may deliver: the route needs a verified client
 * certificate, and the server's auth function (struct ingest_http_auth)
 * says whose it is. The module does not know identity.
 */
#ifndef DUPLA_INGEST_ROUTES_H
#define DUPLA_INGEST_ROUTES_H

#include "http/http.h"
#include "ingest/ingest.h"

#define INGEST_HTTP_PREFIX     "/ingest/"
#define INGEST_HTTP_MAX_BODY   ((size_t)64 << 20) /* one delivery's body: 64 MiB */
#define INGEST_SOURCE_NAME_MAX 128

/* Fills name (cap bytes) with the delivering source system's name when the
 * request's client certificate is a registered, active source system's;
 * else a negative code with err filled (401 certificate, 403 not a source
 * system). */
struct ingest_http_auth {
    void *ctx;
    int (*source)(http_request_t *req, void *ctx, char *name, size_t cap, err_t *err);
};

/* What the handler needs; owned by the caller, must outlive srv. */
struct ingest_routes {
    store_t *st;
    const catalog_t *catalog;
    enum environment environment; /* of the deployment */
    const char *listener;         /* only on this listener; NULL: every listener */
    struct ingest_http_auth auth;
};

int ingest_routes_register(http_server_t *srv, struct ingest_routes *r, err_t *err);

#endif
