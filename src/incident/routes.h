/*
 * routes.h: the incident JSON API and the public operations log, the
 * incident module's top edge.
 *
 * Public (no login):
 *   GET  /driftsstatus              the operations log as an HTML page
 *   GET  /driftsstatus.rss          the same as RSS 2.0 (application/rss+xml)
 *   GET  /api/opslog                the same as JSON {entries: [...]}
 * An organisation's users (member) and the data owner's staff (staff), with
 * a session (and CSRF for changes), through struct incident_http_auth:
 *   GET  /api/incidents?status=&org=&assignee=   member: own organisation's; staff: all
 *   POST /api/incidents             member: {type, title?, description, agreement_id?} -> 201
 *   GET  /api/incidents/<id>        the incident with its history (others': 404)
 *   POST /api/incidents/<id>/messages   {text, to_reporter?}: member (own) or staff
 *   POST /api/incidents/<id>/status     staff: {status, note?}
 *   POST /api/incidents/<id>/assign     staff: {assignee} ("" unassigns)
 *   POST /api/incidents/phone       staff: a phone call {org, caller, caller_email?, type,
 *                                   title?, description, agreement_id?} -> 201
 *   POST /api/opslog                staff: {kind, title, text?, start, end?, status?} -> 201
 *   POST /api/opslog/<id>           staff: {text?, status?, start?, end? (null: open), title?}
 * Times are "yyyy-mm-ddTHH:MM:SSZ" or milliseconds since 1970.
 */
#ifndef DUPLA_INCIDENT_ROUTES_H
#define DUPLA_INCIDENT_ROUTES_H

#include "http/http.h"
#include "incident/incident.h"

#define INCIDENT_API_MAX_BODY (64 * 1024)       /* a description or message and its JSON */
#define OPSLOG_PAGE_MAX       ((size_t)4 << 20) /* the rendered page or feed */

/* Fills *out for the request's logged-in user (roles INCIDENT_ROLE_*), or
 * returns a negative code with err filled (401, 403 CSRF). */
struct incident_http_auth {
    void *ctx;
    int (*actor)(http_request_t *req, void *ctx, struct incident_actor *out, err_t *err);
};

/* Owned by the caller; must outlive srv. */
struct incident_routes {
    incident_t *inc;
    struct incident_http_auth auth;
};

int incident_routes_register(http_server_t *srv, struct incident_routes *r, err_t *err);

#endif
