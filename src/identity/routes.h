/*
 * routes.h: the identity JSON API (backs the web pages of a later issue),
 * and the session check other modules' routes use.
 *
 * Every route but login and set-up needs a session (cookie
 * IDENTITY_SESSION_COOKIE); every state-changing request made with a
 * session (POST, PUT, PATCH, DELETE) must also carry the session's CSRF
 * token in X-CSRF-Token. Errors are RFC 9457 problems (401 no or expired
 * session, 403 role rules or CSRF, 400 naming the field, 404, 409, 429 with
 * Retry-After for throttled logins).
 *
 *   POST   /api/session          {username, password} -> cookie, {csrf_token, expires_ms, user}
 *   GET    /api/session          {user, organisation, csrf_token}
 *   DELETE /api/session          log out
 *   POST   /api/setup            {username, secret, password}: redeem a set-up secret
 *   POST   /api/password         {password}: the user's own
 *   GET    /api/orgs             all (data owner staff) or one's own
 *   POST   /api/orgs             {name, cvr, contact_email, admin_username, admin_name?,
 *                                 environments?}: onboarding (dataforvaltning)
 *   POST   /api/orgs/status      {org, status: active|suspended|closed, reason?}
 *   GET    /api/users?org=       users of an organisation
 *   POST   /api/users            {org, username, display_name?, roles?[]} (administrator)
 *   POST   /api/users/status     {user, status: active|suspended, reason?} (administrator;
 *                                 suspending ends the user's sessions; not oneself, not
 *                                 the last active administrator)
 *   POST   /api/roles/grant      {user, role} (the user's organisation's administrator)
 *   POST   /api/roles/revoke     {user, role}
 *   GET    /api/systems?org=     systems
 *   POST   /api/systems          {org, name, certificate (PEM)?, kind?}
 *   POST   /api/systems/status   {system, status: active|suspended|revoked}
 *   POST   /api/systems/binding  {system, sender_constrained: bool}
 *   GET    /api/certs?system=    a system's certificates
 *   POST   /api/certs            {system, certificate (PEM)}
 *   POST   /api/certs/revoke     {sha256}
 *   GET    /api/history?org=&limit=   identity changes, newest first
 */
#ifndef DUPLA_IDENTITY_ROUTES_H
#define DUPLA_IDENTITY_ROUTES_H

#include "http/http.h"
#include "identity/identity.h"

#define IDENTITY_API_MAX_BODY   (16 * 1024) /* JSON bodies (a PEM certificate fits) */
#define IDENTITY_QUERY_ID_MAX   128         /* an org or system named in a query string */
#define IDENTITY_LOGIN_MAX_BODY 2048        /* before authentication: tighter */

/* Registers the routes above on srv (every listener). id must outlive srv. */
int identity_routes_register(http_server_t *srv, identity_t *id, err_t *err);

/* The logged-in actor of a request: a valid session cookie, and for a
 * state-changing method the matching X-CSRF-Token. DUPLA_EUNAUTH (401) or
 * DUPLA_EFORBIDDEN (403, "csrf") with err filled otherwise. */
int identity_http_actor(http_request_t *req, identity_t *id, identity_actor_t *actor, err_t *err);

#endif
