/*
 * serve_modules.h: the catalogue, mail, agreement, audit and incident modules'
 * parts in `dupla serve` (lines of the modules table in cmd_serve.c, see
 * serve.h). Order: after identity and token, before the data services.
 */
#ifndef DUPLA_CLI_SERVE_MODULES_H
#define DUPLA_CLI_SERVE_MODULES_H

#include "cli/serve.h"

int catalog_app_init(struct app *app, err_t *err);
void catalog_app_stop(struct app *app);

int agreement_app_init(struct app *app, err_t *err);
int agreement_app_routes(struct app *app, err_t *err);
void agreement_app_stop(struct app *app);
void agreement_app_tick(struct app *app, int64_t now_ms);

int ingest_app_routes(struct app *app, err_t *err);

int audit_app_init(struct app *app, err_t *err);
int audit_app_routes(struct app *app, err_t *err);
void audit_app_stop(struct app *app);

int mail_app_init(struct app *app, err_t *err);
void mail_app_stop(struct app *app);
void mail_app_tick(struct app *app, int64_t now_ms);

int enrol_app_init(struct app *app, err_t *err);
int enrol_app_routes(struct app *app, err_t *err);
void enrol_app_stop(struct app *app);

int incident_app_init(struct app *app, err_t *err);
int incident_app_routes(struct app *app, err_t *err);
void incident_app_stop(struct app *app);
void incident_app_tick(struct app *app, int64_t now_ms);

#endif
