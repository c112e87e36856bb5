/*
 * cmd_serve.c: `dupla serve`, the platform's server process.
 *
 * Loads the configuration, forks the key process (src/keys/), opens the
 * store, lets every module start and register its routes (the modules
 * table below: one line per module, see serve.h), starts the HTTPS
 * listeners, drops to the configured `user`, installs the system call
 * filter (core/sandbox.h), writes the ready file, then
 * waits for signals:
 *   SIGHUP           reload certificates, keys, trust stores and CRLs
 *                    (a bad file keeps the old ones; the error is logged)
 *   SIGTERM, SIGINT  stop accepting, drain requests in flight (bounded by
 *                    --drain-seconds), stop the modules, close the store,
 *                    exit 0
 * Signals are blocked in every thread and taken by sigwait() here, so no
 * handler runs in the middle of a request. Under systemd (Type=notify) the
 * states go to the service manager too (serve_notify.h): READY=1 once
 * listening, RELOADING=1 and READY=1 around a reload, STOPPING=1, and
 * WATCHDOG=1 keepalives from this loop when the unit sets WatchdogSec=.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/serve.h"
#include "cli/serve_cluster.h"
#include "cli/serve_expiry.h"
#include "cli/serve_exposure.h"
#include "cli/serve_identity.h"
#include "cli/serve_modules.h"
#include "cli/serve_notify.h"
#include "cli/serve_testdata.h"
#include "cli/serve_web.h"
#include "core/clock.h"
#include "core/fault.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/snapshot.h"
#include "keys/keys.h"
#include "token/token.h"
#include "audit/audit.h"

#define SERVE_DRAIN_SECONDS_DEFAULT 10
#define SERVE_DRAIN_SECONDS_MAX     600
#define SERVE_PATH_MAX              1024

/* ---- the modules, in layer order ---- */

static int http_routes(struct app *app, err_t *err)
{
    return http_builtin_register(app->server, err);
}

/* The "registry" section: the stale bound every in-memory registry keeps
 * (core/snapshot.h). */
static int registry_init(struct app *app, err_t *err)
{
    return snapshot_config_apply(&app->cfg, err);
}

static const struct app_module modules[] = {
    {"http", NULL, http_routes, NULL, NULL},
    {"registry", registry_init, NULL, NULL, NULL},
    {"identity", identity_app_init, identity_app_routes, identity_app_stop, NULL},
    {"token", token_app_init, token_app_routes, token_app_stop, NULL},
    {"catalog", catalog_app_init, NULL, catalog_app_stop, NULL},
    {"mail", mail_app_init, NULL, mail_app_stop, mail_app_tick},
    {"agreement", agreement_app_init, agreement_app_routes, agreement_app_stop, agreement_app_tick},
    {"ingest", NULL, ingest_app_routes, NULL, NULL},
    {"audit", audit_app_init, audit_app_routes, audit_app_stop, NULL},
    {"incident", incident_app_init, incident_app_routes, incident_app_stop, incident_app_tick},
    {"exposure", exposure_app_init, exposure_app_routes, exposure_app_stop, NULL},
    {"expiry", expiry_app_init, NULL, expiry_app_stop, expiry_app_tick},
    {"testdata", NULL, testdata_app_routes, NULL, NULL},
    {"enrol", enrol_app_init, enrol_app_routes, enrol_app_stop, NULL},
    {"web", web_app_init, web_app_routes, web_app_stop, NULL},
};
#define N_MODULES (sizeof modules / sizeof modules[0])

/* ---- the ticker: periodic jobs ---- */

#define SERVE_TICK_MS 1000

static pthread_mutex_t ticker_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ticker_cv = PTHREAD_COND_INITIALIZER;
static int ticker_stop;

/* Calls every module's tick about once a second until ticker_stop is set. */
static void *ticker_main(void *arg)
{
    struct app *app = arg;
    fault_thread_role(FAULT_ROLE_EXEMPT); /* the fault test build: not a request's */
    pthread_mutex_lock(&ticker_mu);
    while (!ticker_stop) {
        pthread_mutex_unlock(&ticker_mu);
        int64_t now = clock_now_ms();
        for (size_t i = 0; i < N_MODULES; i++)
            if (modules[i].tick)
                modules[i].tick(app, now);
        pthread_mutex_lock(&ticker_mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += SERVE_TICK_MS / 1000;
        while (!ticker_stop && pthread_cond_timedwait(&ticker_cv, &ticker_mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&ticker_mu);
    return NULL;
}

/* ---- the key process ---- */

_Static_assert(HTTP_TLS_KEYID_LEN == KEYS_TLS_KEYID_LEN, "one key id on both sides");

/* The listeners' key source (http.h): keys held by the key process. */
static int tls_privkey(void *ctx, const char *path, const unsigned char *key_id,
                       gnutls_privkey_t *out, err_t *err)
{
    return keys_tls_privkey(ctx, path, key_id, out, err);
}

/* Forks the key process with the keys the configuration names (token
 * folder, checkpoint key, the listeners' TLS keys unless tls_key_process
 * is false) and makes every signer of this process ask it.
 * Before anything else: no thread, no connection, no key loaded yet. */
static int keys_begin(struct app *app, keys_t **out, err_t *err)
{
    struct token_config tc;
    struct audit_config ac;
    int rc = token_config_load(&app->cfg, &tc, err);
    if (!rc)
        rc = audit_config_read(&app->cfg, &ac, err);
    if (rc)
        return rc;
    struct keys_config kc;
    memset(&kc, 0, sizeof kc);
    snprintf(kc.token_dir, sizeof kc.token_dir, "%s", tc.key_dir);
    snprintf(kc.audit_key, sizeof kc.audit_key, "%s", ac.signing_key);
    for (size_t i = 0; app->cfg.tls_key_process && i < app->cfg.n_listeners; i++)
        if (app->cfg.listeners[i].key_file[0])
            snprintf(kc.tls_keys[kc.n_tls++], CONFIG_PATH_MAX, "%s",
                     app->cfg.listeners[i].key_file);
    if ((rc = keys_start(&kc, out, err)))
        return rc;
    pki_signer_set_remote(keys_remote(*out));
    if (app->cfg.tls_key_process) {
        static struct http_tls_key_source src;
        src = (struct http_tls_key_source){*out, tls_privkey};
        http_tls_set_key_source(&src);
    }
    return 0;
}

/* ---- dropping privileges ---- */

struct drop_to {
    bool wanted;
    uid_t uid;
    gid_t gid;
};

/* The configured user, looked up before any thread exists. Without one,
 * a server started as root says that it stays root. */
static int user_resolve(const struct dupla_config *cfg, struct drop_to *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    if (!cfg->user[0]) {
        if (geteuid() == 0)
            log_warn("serve: running as root: set \"user\" in the configuration to drop to an "
                     "unprivileged user once the listeners are bound");
        return 0;
    }
    struct passwd pw, *found = NULL;
    char buf[4096];
    int rc = getpwnam_r(cfg->user, &pw, buf, sizeof buf, &found);
    if (rc != 0 || !found)
        return err_param(err, DUPLA_EINVAL, "user", "user: no such user \"%s\"", cfg->user);
    if (pw.pw_uid == 0)
        return err_param(err, DUPLA_EINVAL, "user", "user: \"%s\" is root", cfg->user);
    out->wanted = true;
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    return 0;
}

/* After the ports are bound: no supplementary groups, the user's group,
 * the user (every thread: glibc applies set*id to all of them), and a
 * check that root cannot be had back. */
static int privileges_drop(const struct drop_to *to, const char *user, err_t *err)
{
    if (!to->wanted)
        return 0;
    if (getuid() == to->uid && geteuid() == to->uid && getgid() == to->gid)
        return 0; /* started as that user already */
    if (setgroups(0, NULL) != 0 || setgid(to->gid) != 0 || setuid(to->uid) != 0)
        return err_internal(err, DUPLA_EIO, "serve: cannot drop to user %s: %s", user,
                            strerror(errno));
    if (setuid(0) == 0 || geteuid() == 0)
        return err_internal(err, DUPLA_EINTERNAL, "serve: could become root again after the drop");
    log_info("serve: running as user %s (uid %d, gid %d)", user, (int)to->uid, (int)to->gid);
    return 0;
}

/* ---- the system call filter ---- */

/* Once the ports are bound and the privileges dropped, before the ready
 * file: the listeners' threads exist and get the filter with this one
 * (TSYNC), the ticker and the cluster's threads started later inherit it.
 * A kernel without seccomp stops the server only when the configuration
 * asked for the filter by name; by default it is a warning. */
static int sandbox_begin(const struct dupla_config *cfg, keys_t *keys, err_t *err)
{
    int rc = sandbox_enter((enum sandbox_mode)cfg->seccomp, keys ? keys_pid(keys) : 0, err);
    if (rc && !cfg->seccomp_set) {
        log_warn("%s: serving without it (set \"seccomp\": false to say so)", err->log);
        err_clear(err);
        return 0;
    }
    return rc;
}

/* ---- the store ---- */

/* The one place serve opens the store. */
static int app_store_open(struct app *app, err_t *err)
{
    struct store_options opt = {0};
    return store_open(app->cfg.store_url, &opt, &app->store, err);
}

static int app_ready(void *ctx, err_t *err)
{
    struct app *app = ctx;
    return store_ping(app->store, err);
}

/* ---- the ready file ---- */

/* Writes {"pid":N,"listeners":{"name":port,...}} to path, atomically
 * (a temporary file in the same folder, then rename). */
static int write_ready_file(const struct app *app, const char *path, err_t *err)
{
    json_t *ports = json_object();
    for (size_t i = 0; i < app->cfg.n_listeners; i++) {
        const char *name = app->cfg.listeners[i].name;
        json_object_set_new(ports, name, json_integer(http_server_port(app->server, name)));
    }
    json_t *doc = json_pack("{s:i, s:o}", "pid", (int)getpid(), "listeners", ports);
    if (!doc)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    char tmp[SERVE_PATH_MAX + 16];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = 0;
    if (n < 0 || (size_t)n >= sizeof tmp)
        rc = err_set(err, DUPLA_EINVAL, "--ready-file: path too long");
    else if (json_dump_file(doc, tmp, JSON_COMPACT) != 0)
        rc = err_set(err, DUPLA_EIO, "cannot write %s: %s", tmp, strerror(errno));
    else if (rename(tmp, path) != 0)
        rc = err_set(err, DUPLA_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    json_decref(doc);
    return rc;
}

/* ---- the listeners' files ---- */

/* Refuses a listener whose certificate, key, trust store or CRL cannot be
 * read, naming the listener, the key and the file: an installed package
 * starts with /etc/dupla/tls empty until the operator fills it, and should
 * say so rather than fail inside the TLS set-up. Runs after the modules'
 * init, so that a wrong key in a module's section is reported first. */
static int check_listener_files(const struct dupla_config *cfg, err_t *err)
{
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct listener_config *lc = &cfg->listeners[i];
        const struct {
            const char *key, *what, *path;
        } files[] = {
            {"cert", "server certificate", lc->cert_file},
            {"key", "server private key", lc->key_file},
            {"trust", "trust store (CA certificates)", lc->trust_file},
            {"crl", "revocation list", lc->crl_file},
        };
        for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
            if (!files[f].path[0] || access(files[f].path, R_OK) == 0)
                continue;
            return err_param(err, DUPLA_EINVAL, files[f].key,
                             "listener \"%s\": its %s %s cannot be read: %s (put it there, or "
                             "change listeners[%zu].%s in %s)",
                             lc->name, files[f].what, files[f].path, strerror(errno), i,
                             files[f].key, cfg->path);
        }
    }
    return 0;
}

/* ---- the command ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dupla serve --config FILE [--ready-file FILE] [--drain-seconds N]\n"
            "\n"
            "Runs the platform: opens the store, starts every HTTPS listener of the\n"
            "configuration and serves until SIGTERM or SIGINT (Ctrl-C). SIGHUP reloads\n"
            "the listeners' certificates, keys, trust stores and CRLs. A listener's\n"
            "certificate, key, trust store or CRL that cannot be read stops it before it\n"
            "listens, naming the file.\n"
            "\n"
            "Under systemd (Type=notify) it tells the service manager READY=1 once\n"
            "listening, RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 when\n"
            "draining, and sends WATCHDOG=1 keepalives when the unit sets WatchdogSec=.\n"
            "\n"
            "options:\n"
            "  --config FILE         the JSON configuration (required)\n"
            "  --ready-file FILE     once listening, write {\"pid\":N,\"listeners\":{NAME:PORT}}\n"
            "                        there (atomically); useful with port 0 (a free port)\n"
            "  --drain-seconds N     on SIGTERM, wait up to N seconds for requests in\n"
            "                        flight (default %d)\n"
            "\n"
            "Log lines (JSON, one per line) go to standard error.\n"
            "\n"
            "examples:\n"
            "  dupla serve --config var/demo/dupla.json\n"
            "  dupla serve --config test.json --ready-file /tmp/ready.json\n",
            SERVE_DRAIN_SECONDS_DEFAULT);
}

static void log_listening(const struct app *app)
{
    static const char *policies[] = {"none", "request", "require"};
    for (size_t i = 0; i < app->cfg.n_listeners; i++) {
        const struct listener_config *lc = &app->cfg.listeners[i];
        log_json(LOG_INFO, "listening",
                 json_pack("{s:s, s:s, s:i, s:s}", "listener", lc->name, "address", lc->address,
                           "port", (int)http_server_port(app->server, lc->name), "client_cert",
                           policies[lc->client_cert]));
    }
}

/* Tells the service manager state; a failure is logged, never fatal. */
static void notify(const char *state)
{
    int rc = serve_notify(state);
    if (rc < 0)
        log_warn("sd_notify %s: %s", state, strerror(-rc));
}

static int64_t mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* The next signal of set, or 0 when timeout_ms (> 0) passed first. */
static int next_signal(const sigset_t *set, int64_t timeout_ms)
{
    if (timeout_ms <= 0) {
        int sig = 0;
        return sigwait(set, &sig) == 0 ? sig : 0;
    }
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* Waits for SIGTERM/SIGINT, reloading on SIGHUP meanwhile, and sends the
 * watchdog's keepalives when they are asked for. */
static void serve_until_stopped(struct app *app, const sigset_t *set)
{
    int64_t watchdog_ms = serve_watchdog_interval_ms();
    int64_t next_keepalive = mono_ms() + watchdog_ms;
    for (;;) {
        int64_t wait_ms = 0;
        if (watchdog_ms) {
            int64_t now = mono_ms();
            if (now >= next_keepalive) {
                notify("WATCHDOG=1");
                next_keepalive = now + watchdog_ms;
            }
            wait_ms = next_keepalive - now;
            if (wait_ms < 1)
                wait_ms = 1;
        }
        int sig = next_signal(set, wait_ms);
        if (sig == 0)
            continue;
#if DUPLA_TEST_HOOKS
        if (sig == SIGUSR2) { /* e2e-keys: a forbidden call under the filter */
            log_warn("test hook: SIGUSR2: trying execve under the seccomp filter");
            char *argv[] = {"/bin/true", NULL};
            execv(argv[0], argv);
            log_error("test hook: execve failed: %s", strerror(errno));
            continue;
        }
#endif
        if (sig == SIGHUP) {
            log_info("SIGHUP: reloading certificates");
            notify("RELOADING=1");
            err_t err;
            err_clear(&err);
            http_server_reload(app->server, &err); /* logs what failed */
            notify("READY=1");
            continue;
        }
        log_json(LOG_INFO, "stopping", json_pack("{s:s}", "signal", strsignal(sig)));
        notify("STOPPING=1");
        return;
    }
}

int cmd_serve(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *config_path = NULL, *ready_file = NULL;
    long drain_seconds = SERVE_DRAIN_SECONDS_DEFAULT;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"ready-file", required_argument, NULL, 'r'},
                                         {"drain-seconds", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 'r':
            ready_file = optarg;
            break;
        case 'd': {
            char *end;
            errno = 0;
            drain_seconds = strtol(optarg, &end, 10);
            if (errno || *end || drain_seconds < 0 || drain_seconds > SERVE_DRAIN_SECONDS_MAX)
                return cli_usage_error("serve", "--drain-seconds: '%s' is not 0-%d", optarg,
                                       SERVE_DRAIN_SECONDS_MAX);
            break;
        }
        default:
            return cli_usage_error("serve", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!config_path)
        return cli_usage_error("serve", "--config FILE is required");
    if (ready_file && strlen(ready_file) >= SERVE_PATH_MAX)
        return cli_usage_error("serve", "--ready-file: path too long");

    /* Before any thread exists: every thread inherits the blocked set. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
#if DUPLA_TEST_HOOKS
    sigaddset(&set, SIGUSR2); /* the builds with the tests: serve_until_stopped */
#endif
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct app app;
    memset(&app, 0, sizeof app);
    err_t err;
    err_clear(&err);
    int status = 1;
    size_t inited = 0;
    if (config_load(config_path, &app.cfg, &err) != 0) {
        fprintf(stderr, "dupla serve: %s\n", err.log);
        return 1;
    }
    int level = log_level_parse(app.cfg.log_level);
    if (level >= 0)
        log_set_level((enum log_level)level);
    keys_t *keys = NULL;
    struct drop_to drop;
    if (user_resolve(&app.cfg, &drop, &err) != 0) {
        fprintf(stderr, "dupla serve: %s\n", err.log);
        goto out;
    }
    if (keys_begin(&app, &keys, &err) != 0) {
        fprintf(stderr, "dupla serve: the key process: %s\n", err.log);
        goto out;
    }
    if (app_store_open(&app, &err) != 0) {
        fprintf(stderr, "dupla serve: %s\n", err.log);
        goto out;
    }
    if (http_server_new(&app.cfg, &app.server, &err) != 0) {
        fprintf(stderr, "dupla serve: %s\n", err.log);
        goto out;
    }
    http_server_set_ready_check(app.server, app_ready, &app);
    for (; inited < N_MODULES; inited++) {
        const struct app_module *m = &modules[inited];
        if ((m->init && m->init(&app, &err) != 0) || (m->routes && m->routes(&app, &err) != 0)) {
            fprintf(stderr, "dupla serve: %s: %s\n", m->name, err.log);
            inited++; /* its stop frees what its init made */
            goto out;
        }
    }
    if (check_listener_files(&app.cfg, &err) != 0 || http_server_start(app.server, &err) != 0 ||
        privileges_drop(&drop, app.cfg.user, &err) != 0 ||
        sandbox_begin(&app.cfg, keys, &err) != 0) {
        fprintf(stderr, "dupla serve: %s\n", err.log);
        goto out;
    }
    log_listening(&app);
    if (ready_file && write_ready_file(&app, ready_file, &err) != 0) {
        fprintf(stderr, "dupla serve: %s\n", err.log);
        goto out;
    }
    notify("READY=1");
    cluster_app_start(&app);
    pthread_t ticker;
    int ticker_running = pthread_create(&ticker, NULL, ticker_main, &app) == 0;
    if (!ticker_running)
        log_error("cannot start the periodic jobs' thread");
    serve_until_stopped(&app, &set);
    status = 0;
    if (ticker_running) {
        pthread_mutex_lock(&ticker_mu);
        ticker_stop = 1;
        pthread_cond_broadcast(&ticker_cv);
        pthread_mutex_unlock(&ticker_mu);
        pthread_join(ticker, NULL);
    }
    cluster_app_stop(&app);
out:
    if (app.server)
        http_server_stop(app.server, (unsigned)drain_seconds * 1000u);
    while (inited > 0) {
        const struct app_module *m = &modules[--inited];
        if (m->stop)
            m->stop(&app);
    }
    http_server_free(app.server);
    if (app.store)
        store_close(app.store);
    keys_stop(keys);
    if (ready_file && status == 0)
        unlink(ready_file);
    config_free(&app.cfg);
    if (status == 0)
        log_info("stopped");
    return status;
}
