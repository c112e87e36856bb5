/*
 * routes.h: the agreement JSON API, the module's top edge.
 *
 * Every route needs a logged-in user: the module does not know identity, so
 * the server hands it a function (struct agreement_http_auth) that checks
 * the session (and the CSRF token of a state-changing request) and fills an
 * agreement_actor. The module's own rules (agreement.h) then decide: roles,
 * organisation, four eyes. Errors are RFC 9457 problems naming the
 * parameter at fault; another organisation's agreement is 404.
 *
 *   GET  /api/agreements?org=&state=       list (own organisation; data owner: all)
 *   POST /api/agreements                   {environment?, application} -> 201 {id, urn};
 *                                          or {environment?, template: <id>}: a draft from a
 *                                          published template
 *   GET  /api/agreement-templates          {templates: [...]} (published; data owner: all)
 *   POST /api/agreement-templates          {id?, published?, title, purpose?, purpose_category,
 *                                           recipient_kind?, legal_basis, services}: save
 *                                          (dataforvaltning) -> 201 (new) or 200
 *   POST /api/agreement-templates/publish  {id, published}
 *   GET  /api/agreements/<id>              the agreement document (JSON)
 *   GET  /api/agreements/<id>/document     the same
 *   GET  /api/agreements/<id>/document.html   printable HTML
 *   GET  /api/agreements/<id>/history      {id, history: [...]}
 *   PUT  /api/agreements/<id>              {application}: edit (or POST .../edit)
 *   POST /api/agreements/<id>/rate         {rate_per_second, burst}: the agreement's rate
 *                                          budget (dataforvaltning; both 0: the default)
 *   POST /api/agreements/<id>/<step>       sign | approve | reject | return | withdraw |
 *                                          suspend | reactivate | revoke | terminate
 *                                          {reason?, assessment?, granted?} -> the document
 */
#ifndef DUPLA_AGREEMENT_ROUTES_H
#define DUPLA_AGREEMENT_ROUTES_H

#include "agreement/agreement.h"
#include "http/http.h"

/* A body holds an application: 64 services of 256 field names fit. */
#define AGREEMENT_API_MAX_BODY (1024 * 1024)
/* The printable document, history included. */
#define AGREEMENT_HTML_MAX ((size_t)8 << 20)

/* Who is asking: fills *out for the request's logged-in user, or returns a
 * negative code with err filled (401 no session, 403 CSRF). */
struct agreement_http_auth {
    void *ctx;
    int (*actor)(http_request_t *req, void *ctx, struct agreement_actor *out, err_t *err);
};

/* What the handlers need; owned by the caller, must outlive srv. */
struct agreement_routes {
    agreement_t *ag;
    enum environment default_env; /* a new agreement's, unless the body names one */
    struct agreement_http_auth auth;
};

/* Registers the routes above on every listener. */
int agreement_routes_register(http_server_t *srv, struct agreement_routes *r, err_t *err);

#endif
