/*
 * serve_modules.c: starting, ticking and stopping the catalogue, agreement,
 * audit and incident modules inside `dupla serve`, and the hooks that let
 * those modules ask identity and the catalogue their questions without
 * including them (agreement_hooks, incident_hooks).
 */
#include "cli/serve_modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agreement/agreement.h"
#include "agreement/routes.h"
#include "audit/audit.h"
#include "audit/routes.h"
#include "catalog/catalog.h"
#include "cli/incident_cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/problem.h"
#include "dataset/dataset.h"
#include "events/events.h"
#include "enrol/enrol.h"
#include "enrol/routes.h"
#include "identity/identity.h"
#include "identity/routes.h"
#include "incident/incident.h"
#include "incident/routes.h"
#include "mail/mail.h"
#include "ingest/routes.h"
#include "pki/sign.h"
#include "token/routes.h"
#include "web/actor.h"

/* How often the periodic jobs run (the ticker calls every second). */
#define SERVE_MAIL_EVERY_MS    5000
#define SERVE_MAILDIR_EVERY_MS 5000

/* ---- the catalogue ---- */

int catalog_app_init(struct app *app, err_t *err)
{
    char dir[CONFIG_PATH_MAX];
    int rc = catalog_config_dir(&app->cfg, dir, sizeof dir, err);
    if (rc == 0)
        rc = catalog_load_dir(dir, &app->catalog, err);
    if (rc == 0)
        log_info("catalog: %zu services from %s", catalog_count(app->catalog), dir);
    /* The records the catalogue describes live in the dataset tables. */
    if (rc == 0)
        rc = dataset_migrate(app->store, err);
    /* ... and the change log of the event lists beside them */
    if (rc == 0)
        rc = events_migrate(app->store, err);
    return rc;
}

void catalog_app_stop(struct app *app)
{
    catalog_free(app->catalog);
    app->catalog = NULL;
}

/* ---- agreements ---- */

static int hook_field_known(void *ctx, const char *service, const char *field)
{
    struct app *app = ctx;
    const struct catalog_service *svc = catalog_find(app->catalog, str_from_cstr(service));
    if (!svc)
        return 0;
    return field == NULL || catalog_field_find(svc, str_from_cstr(field)) != NULL;
}

static int hook_system_known(void *ctx, const char *org_cvr, const char *system_id)
{
    struct app *app = ctx;
    struct identity_system sys;
    struct identity_org org;
    err_t err;
    if (identity_system_get(app->identity, str_from_cstr(system_id), &sys, &err) != 0)
        return 0;
    if (identity_org_get(app->identity, str_from_cstr(sys.org_id), &org, &err) != 0)
        return 0;
    return strcmp(org.cvr, org_cvr) == 0;
}

static int hook_org_mailbox(void *ctx, const char *org_cvr, char *out, size_t cap)
{
    struct app *app = ctx;
    struct identity_org org;
    err_t err;
    if (identity_org_get(app->identity, str_from_cstr(org_cvr), &org, &err) != 0 ||
        !org.contact_email[0])
        return -1;
    snprintf(out, cap, "%s", org.contact_email);
    return 0;
}

int agreement_app_init(struct app *app, err_t *err)
{
    struct agreement_hooks hooks = {.ctx = app,
                                    .field_known = hook_field_known,
                                    .system_known = hook_system_known,
                                    .org_mailbox = hook_org_mailbox};
    return agreement_open(app->store, &hooks, &app->agreement, err);
}

static int agreement_http_actor(http_request_t *req, void *ctx, struct agreement_actor *out,
                                err_t *err)
{
    struct app *app = ctx;
    identity_actor_t ia;
    int rc = identity_http_actor(req, app->identity, &ia, err);
    return rc ? rc : web_actor_agreement(app->identity, &ia, NULL, out, err);
}

static struct agreement_routes agreement_routes_ctx;

int agreement_app_routes(struct app *app, err_t *err)
{
    agreement_routes_ctx = (struct agreement_routes){
        .ag = app->agreement,
        .default_env = app->cfg.environment,
        .auth = {.ctx = app, .actor = agreement_http_actor},
    };
    return agreement_routes_register(app->server, &agreement_routes_ctx, err);
}

void agreement_app_stop(struct app *app)
{
    err_t err;
    err_clear(&err);
    if (app->agreement && agreement_limited_flush(app->agreement, &err) != 0)
        log_warn("agreement: 429 counts lost at stop: %s", err.log);
    agreement_close(app->agreement);
    app->agreement = NULL;
}

/* Picks up agreement changes made by other processes (the CLI, other nodes)
 * every second. (The expiry warnings are src/expiry's, serve_expiry.c.) */
void agreement_app_tick(struct app *app, int64_t now_ms)
{
    (void)now_ms;
    err_t err;
    err_clear(&err);
    if (agreement_registry_sync(app->agreement, &err) != 0)
        log_warn("agreement: registry sync failed: %s", err.log);
    /* the 429s counted since the last tick (nothing to do when none) */
    err_clear(&err);
    if (agreement_limited_flush(app->agreement, &err) != 0)
        log_warn("agreement: 429 counts not saved yet: %s", err.log);
}

/* ---- deliveries from source systems (POST /ingest/<service>) ---- */

/* The request's client certificate must be an active source system's of
 * this environment (identity decides); its name is the delivery's source. */
static int ingest_http_source(http_request_t *req, void *ctx, char *name, size_t cap, err_t *err)
{
    struct app *app = ctx;
    const struct http_client_cert *cc = http_req_client_cert(req);
    if (!cc || !cc->present || !cc->verified) {
        int rc = err_set(err, DUPLA_EUNAUTH, "a verified client certificate is required");
        err_problem(err, PROBLEM_CLIENT_CERT_REQUIRED);
        return rc;
    }
    struct identity_principal p;
    int rc = identity_authenticate_cert(app->identity, &cc->info, SYSTEM_SOURCE,
                                        app->cfg.environment, clock_now_ms(), &p, err);
    if (rc)
        return rc;
    snprintf(name, cap, "%.*s", (int)cap - 1, p.system_name);
    return 0;
}

static struct ingest_routes ingest_routes_ctx;

int ingest_app_routes(struct app *app, err_t *err)
{
    ingest_routes_ctx = (struct ingest_routes){
        .st = app->store,
        .catalog = app->catalog,
        .environment = app->cfg.environment,
        .auth = {.ctx = app, .source = ingest_http_source},
    };
    return ingest_routes_register(app->server, &ingest_routes_ctx, err);
}

/* ---- the disclosure log ---- */

int audit_app_init(struct app *app, err_t *err)
{
    struct audit_config ac;
    int rc = audit_config_read(&app->cfg, &ac, err);
    if (rc)
        return rc;
    if (ac.signing_key[0]) {
        rc = pki_signer_load(ac.signing_key, &app->audit_signer, err);
        if (rc)
            return rc;
    }
    struct audit_options opt = {.environment = environment_name(app->cfg.environment),
                                .signer = app->audit_signer,
                                .checkpoint_every = ac.checkpoint_every,
                                .checkpoint_seconds = ac.checkpoint_seconds,
                                .queue_max = ac.queue_max,
                                .origin = ac.origin,
                                .wait_in_lock = !ac.commit_barrier,
                                .linger_us = ac.linger_us,
                                .relay = &ac.relay};
    return audit_open(app->store, &opt, &app->audit, err);
}

/* identity's logged-in user as a disclosure-log caller (web/actor.h), or
 * the recipient system whose bearer token the request carries (its
 * organisation's entries and receipts, as its administrators see them). */
static int audit_http_caller(http_request_t *req, void *ctx, struct audit_http_caller *out,
                             err_t *err)
{
    struct app *app = ctx;
    str_t auth;
    if (app->token && http_req_header(req, "Authorization", &auth)) {
        struct token_principal p;
        int rc = token_http_authenticate(req, app->token, &p, err);
        if (rc)
            return rc;
        memset(out, 0, sizeof *out);
        out->roles = AUDIT_CALLER_SYSTEM;
        snprintf(out->org_cvr, sizeof out->org_cvr, "%s", p.org_cvr);
        return 0;
    }
    identity_actor_t ia;
    int rc = identity_http_actor(req, app->identity, &ia, err);
    if (!rc && !(rc = web_actor_audit(app->identity, &ia, NULL, out, err)))
        snprintf(out->name, sizeof out->name, "%.127s", ia.username);
    return rc;
}

/* A recipient organisation's contact mailbox, for a data error's notice. */
static int audit_contact(void *ctx, const char *org_cvr, char *out, size_t cap, err_t *err)
{
    struct app *app = ctx;
    struct identity_org org;
    int rc = identity_org_get(app->identity, str_from_cstr(org_cvr), &org, err);
    if (rc == 0)
        snprintf(out, cap, "%s", org.contact_email);
    return rc;
}

/* The purpose and legal basis of an entry's agreement version (no actor:
 * the audit routes decided who may ask), copied into the page's arena. */
static int audit_agreement_lookup(void *ctx, str_t agreement_id, int64_t version, arena_t *arena,
                                  struct audit_agreement_info *out, err_t *err)
{
    struct app *app = ctx;
    char *purpose, *basis;
    int rc = agreement_version_basis(app->agreement, agreement_id, version, &purpose, &basis, err);
    if (rc)
        return rc;
    out->purpose = arena_strdup(arena, str_from_cstr(purpose));
    out->legal_basis = arena_strdup(arena, str_from_cstr(basis));
    free(purpose);
    free(basis);
    if (!out->purpose || !out->legal_basis)
        return err_set(err, DUPLA_ELIMIT, "the page is too large; ask with a smaller limit");
    return 0;
}

static struct audit_routes audit_routes_ctx;

int audit_app_routes(struct app *app, err_t *err)
{
    audit_routes_ctx = (struct audit_routes){
        .st = app->store,
        .auth = {.ctx = app, .caller = audit_http_caller},
        .lookup = {.agreement_lookup = audit_agreement_lookup, .agreement_ctx = app},
        .log = app->audit,
        .contact = audit_contact,
        .contact_ctx = app,
    };
    return audit_routes_register(app->server, &audit_routes_ctx, err);
}

void audit_app_stop(struct app *app)
{
    audit_close(app->audit);
    app->audit = NULL;
    pki_signer_free(app->audit_signer);
    app->audit_signer = NULL;
}

/* ---- applications to become an agreement party ---- */

int enrol_app_init(struct app *app, err_t *err)
{
    struct enrol_settings settings;
    int rc = enrol_config_read(&app->cfg, &settings, err);
    if (rc)
        return rc;
    if (!settings.public_url[0])
        log_warn("enrol: no enrol.public_url configured: set-up mails give the link as a path");
    return enrol_open(app->store, app->identity, &settings, &app->enrol, err);
}

int enrol_app_routes(struct app *app, err_t *err)
{
    return enrol_routes_register(app->server, app->enrol, err);
}

void enrol_app_stop(struct app *app)
{
    enrol_close(app->enrol);
    app->enrol = NULL;
}

/* ---- mail ---- */

int mail_app_init(struct app *app, err_t *err)
{
    struct mail_settings settings;
    int rc = mail_config_read(&app->cfg, &settings, err);
    if (rc)
        return rc;
    /* Without a configured relay, mail stays queued (dupla mail list shows
     * it) instead of being tried against a relay nobody set up. */
    app->mail_enabled = settings.smtp_configured;
    if (!app->mail_enabled)
        log_warn("mail: no mail.smtp_url configured: receipts and notifications stay queued");
    return mail_open(app->store, &settings, &app->mail, err);
}

void mail_app_stop(struct app *app)
{
    mail_close(app->mail);
    app->mail = NULL;
}

/* Sends the mail that is due (queued by agreement and incident), and
 * counts the backlog for the metrics (also without a relay: mail that
 * cannot go out is what the operator must see). */
void mail_app_tick(struct app *app, int64_t now_ms)
{
    static int64_t next_mail_ms;
    if (now_ms < next_mail_ms)
        return;
    err_t err;
    err_clear(&err);
    struct mail_send_stats ms;
    memset(&ms, 0, sizeof ms);
    if (app->mail_enabled && mail_send_pending(app->mail, now_ms, &ms, &err) != 0)
        log_warn("mail: sending failed: %s", err.log);
    struct mail_backlog bl;
    err_clear(&err);
    if (mail_backlog(app->mail, &bl, &err) != 0)
        log_warn("mail: cannot count the outbox: %s", err.log);
    next_mail_ms = now_ms + SERVE_MAIL_EVERY_MS;
}

/* ---- incidents and the operations log ---- */

int incident_app_init(struct app *app, err_t *err)
{
    struct incident_settings settings;
    incident_settings_default(&settings);
    int rc = incident_settings_from_config(&app->cfg, &settings, err);
    if (rc)
        return rc;
    const char *maildir = NULL;
    json_t *sec = config_section(&app->cfg, "incident");
    rc = config_get_string(sec, "incident", "maildir", NULL, &maildir, err);
    if (rc)
        return rc;
    app->maildir[0] = '\0';
    if (maildir && config_resolve_path(&app->cfg, maildir, app->maildir, sizeof app->maildir))
        return err_param(err, DUPLA_EINVAL, "maildir", "incident.maildir: path too long");
    struct incident_hooks hooks;
    incident_identity_hooks(app->identity, &hooks);
    return incident_open(app->store, &hooks, &settings, &app->incident, err);
}

/* identity's logged-in user as an incident actor (web/actor.h). */
static int incident_http_actor(http_request_t *req, void *ctx, struct incident_actor *out,
                               err_t *err)
{
    struct app *app = ctx;
    identity_actor_t ia;
    int rc = identity_http_actor(req, app->identity, &ia, err);
    return rc ? rc : web_actor_incident(app->identity, &ia, NULL, out, err);
}

static struct incident_routes incident_routes_ctx;

int incident_app_routes(struct app *app, err_t *err)
{
    incident_routes_ctx = (struct incident_routes){
        .inc = app->incident,
        .auth = {.ctx = app, .actor = incident_http_actor},
    };
    return incident_routes_register(app->server, &incident_routes_ctx, err);
}

void incident_app_stop(struct app *app)
{
    incident_close(app->incident);
    app->incident = NULL;
}

/* Picks up new incident mail and follows the operations log (service
 * windows posted from the CLI or another node). */
void incident_app_tick(struct app *app, int64_t now_ms)
{
    static int64_t next_maildir_ms;
    err_t err;
    err_clear(&err);
    if (opslog_sync(incident_opslog(app->incident), &err) != 0)
        log_warn("opslog: sync failed: %s", err.log);
    if (app->maildir[0] && now_ms >= next_maildir_ms) {
        struct incident_pickup_stats st;
        memset(&st, 0, sizeof st);
        if (incident_maildir_pickup(app->incident, app->maildir, &st, &err) != 0)
            log_warn("incident: maildir pickup failed: %s", err.log);
        next_maildir_ms = now_ms + SERVE_MAILDIR_EVERY_MS;
    }
}
