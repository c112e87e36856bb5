/*
 * serve.h: what `dupla serve` is made of, for the modules that plug into it.
 *
 * struct app holds what a running platform has: the configuration, the
 * store and the HTTPS server. A module takes part through one line in the
 * modules table of cmd_serve.c, naming up to three functions:
 *   init    after the store is open, before any route exists: apply the
 *           module's migrations (store_migrate), read its config section
 *           (config_section(&app->cfg, "<module>")), load keys and caches;
 *   routes  register the module's routes (its <module>_routes_register);
 *   stop    after the server has stopped and drained, before the store
 *           closes: flush and free what init made;
 *   tick    called about once a second from one background thread while
 *           the server runs (periodic jobs: registry sync, mail, expiry
 *           warnings); must not block for long.
 * Modules run in table order (lower layers first) and stop in reverse.
 * A module that needs to keep a handle adds a field to struct app below.
 */
#ifndef DUPLA_CLI_SERVE_H
#define DUPLA_CLI_SERVE_H

#include <stdbool.h>

#include "core/config.h"
#include "core/error.h"
#include "http/http.h"
#include "store/store.h"

struct app {
    struct dupla_config cfg;
    store_t *store;
    http_server_t *server;
    /* Modules' handles, one field each, set by their init and freed by
     * their stop. */
    struct identity *identity;
    struct token_service *token;
    struct catalog *catalog;
    struct agreement *agreement;
    struct audit_log *audit;
    struct pki_signer *audit_signer;
    struct mail *mail;
    struct incident *incident;
    struct exposure *exposure;
    struct web *web;
    struct expiry *expiry;
    struct enrol *enrol;           /* applications to become an agreement party */
    char maildir[CONFIG_PATH_MAX]; /* incident intake; "" when not configured */
    bool mail_enabled;             /* mail.smtp_url configured: send the queued mail */
};

struct app_module {
    const char *name;
    int (*init)(struct app *app, err_t *err);      /* may be NULL */
    int (*routes)(struct app *app, err_t *err);    /* may be NULL */
    void (*stop)(struct app *app);                 /* may be NULL */
    void (*tick)(struct app *app, int64_t now_ms); /* may be NULL */
};

#endif
