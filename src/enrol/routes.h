/*
 * routes.h: the applications' JSON API (the list is in routes.c's head).
 */
#ifndef DUPLA_ENROL_ROUTES_H
#define DUPLA_ENROL_ROUTES_H

#include "enrol/enrol.h"
#include "http/http.h"

#define ENROL_API_MAX_BODY 8192 /* an application or a decision (tighter than after login) */

/* Registers the routes on srv (every listener); e must outlive srv. */
int enrol_routes_register(http_server_t *srv, enrol_t *e, err_t *err);

#endif
