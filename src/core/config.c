/*
 * config.c: loading and checking the JSON configuration.
 */
#include "core/config.h"
#include "core/sandbox.h"

#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int set_path(struct dupla_config *cfg, const char *in, char *out, const char *key,
                    err_t *err)
{
    if (config_resolve_path(cfg, in, out, CONFIG_PATH_MAX))
        return err_param(err, DUPLA_EINVAL, key, "%s: %s: path is too long", cfg->path, key);
    return 0;
}

int config_resolve_path(const struct dupla_config *cfg, const char *path, char *out, size_t cap)
{
    int n;
    if (path[0] == '/' || cfg->dir[0] == '\0')
        n = snprintf(out, cap, "%s", path);
    else
        n = snprintf(out, cap, "%s/%s", cfg->dir, path);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

const char *environment_name(enum environment env)
{
    return env == ENV_PRODUCTION ? "production" : "test";
}

int config_get_int(const json_t *section, const char *secname, const char *key, long long min,
                   long long max, long long def, long long *out, err_t *err)
{
    json_t *v = section ? json_object_get(section, key) : NULL;
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return err_param(err, DUPLA_EINVAL, key, "%s.%s: must be an integer", secname, key);
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return err_param(err, DUPLA_EINVAL, key, "%s.%s: must be between %lld and %lld", secname,
                         key, min, max);
    *out = x;
    return 0;
}

int config_get_string(const json_t *section, const char *secname, const char *key, const char *def,
                      const char **out, err_t *err)
{
    json_t *v = section ? json_object_get(section, key) : NULL;
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v))
        return err_param(err, DUPLA_EINVAL, key, "%s.%s: must be a string", secname, key);
    *out = json_string_value(v);
    return 0;
}

int config_get_bool(const json_t *section, const char *secname, const char *key, int def, int *out,
                    err_t *err)
{
    json_t *v = section ? json_object_get(section, key) : NULL;
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_param(err, DUPLA_EINVAL, key, "%s.%s: must be true or false", secname, key);
    *out = json_is_true(v);
    return 0;
}

static int copy_string(const json_t *obj, const char *secname, const char *key, const char *def,
                       char *out, size_t cap, err_t *err)
{
    const char *s;
    int rc = config_get_string(obj, secname, key, def, &s, err);
    if (rc)
        return rc;
    if (snprintf(out, cap, "%s", s ? s : "") >= (int)cap)
        return err_param(err, DUPLA_EINVAL, key, "%s.%s: too long (at most %zu bytes)", secname,
                         key, cap - 1);
    return 0;
}

/* "seccomp": true (a call outside the list kills the process), "log" (the
 * kernel logs it) or false (no filter); absent: true. */
static int parse_seccomp(struct dupla_config *cfg, const json_t *v, err_t *err)
{
    cfg->seccomp = SANDBOX_KILL;
    cfg->seccomp_set = v != NULL;
    if (!v || json_is_true(v))
        return 0;
    if (json_is_false(v))
        cfg->seccomp = SANDBOX_OFF;
    else if (json_is_string(v) && strcmp(json_string_value(v), "log") == 0)
        cfg->seccomp = SANDBOX_LOG;
    else
        return err_param(err, DUPLA_EINVAL, "seccomp",
                         "%s: seccomp: must be true, false or \"log\"", cfg->path);
    return 0;
}

/* The top-level keys of the file: the core's own, then one section per
 * module (read by that module, which refuses keys it does not know). The
 * one list: a module that adds a section adds its name here. */
static const char *const config_sections[] = {
    /* the core (this file) */
    "environment",
    "store",
    "log_level",
    "user",
    "seccomp",
    "tls_key_process",
    "listeners",
    "limits",
    /* the modules' sections */
    "http",
    "token",
    "identity",
    "catalog",
    "web",
    "audit",
    "exposure",
    "incident",
    "mail",
    "registry",
    "expiry",
    "enrol",
    NULL,
};

static bool listed(const char *const *keys, const char *k)
{
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(k, keys[i]) == 0)
            return true;
    return false;
}

int config_only_keys(const json_t *section, const char *secname, const char *const *keys,
                     err_t *err)
{
    if (!section)
        return 0;
    if (!json_is_object(section))
        return err_param(err, DUPLA_EINVAL, secname, "config: section \"%s\" must be an object",
                         secname);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)section, k, v)
    {
        if (!listed(keys, k))
            return err_param(err, DUPLA_EINVAL, k, "config: unknown key \"%s\" in section \"%s\"",
                             k, secname);
    }
    return 0;
}

int config_only_sections(const struct dupla_config *cfg, err_t *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(cfg->root, k, v)
    {
        if (!listed(config_sections, k))
            return err_param(err, DUPLA_EINVAL, k,
                             "config: %s: unknown key \"%s\" (neither a core setting nor a "
                             "module's section)",
                             cfg->path, k);
    }
    return 0;
}

static int parse_listener(struct dupla_config *cfg, json_t *l, size_t idx, err_t *err)
{
    struct listener_config *lc = &cfg->listeners[idx];
    char sec[48];
    snprintf(sec, sizeof sec, "listeners[%zu]", idx);
    if (!json_is_object(l))
        return err_param(err, DUPLA_EINVAL, sec, "%s: %s: must be an object", cfg->path, sec);
    static const char *known[] = {"name",         "address",     "port",           "cert",
                                  "key",          "client_cert", "trust",          "crl",
                                  "hsts_max_age", "metrics",     "tls_priorities", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(l, k, v)
    {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok)
            return err_param(err, DUPLA_EINVAL, k, "%s: %s.%s: unknown key", cfg->path, sec, k);
    }
    char tmp[CONFIG_PATH_MAX];
    long long port;
    int rc;
    if ((rc = copy_string(l, sec, "name", "api", lc->name, sizeof lc->name, err)) ||
        (rc = copy_string(l, sec, "address", "127.0.0.1", lc->address, sizeof lc->address, err)) ||
        (rc = config_get_int(l, sec, "port", 0, 65535, 8443, &port, err)))
        return rc;
    lc->port = (unsigned)port;
    if ((rc = copy_string(l, sec, "cert", "", tmp, sizeof tmp, err)))
        return rc;
    if (!tmp[0])
        return err_param(err, DUPLA_EINVAL, "cert", "%s: %s.cert: a server certificate is required",
                         cfg->path, sec);
    if ((rc = set_path(cfg, tmp, lc->cert_file, "cert", err)))
        return rc;
    if ((rc = copy_string(l, sec, "key", "", tmp, sizeof tmp, err)))
        return rc;
    if (!tmp[0])
        return err_param(err, DUPLA_EINVAL, "key", "%s: %s.key: a private key is required",
                         cfg->path, sec);
    if ((rc = set_path(cfg, tmp, lc->key_file, "key", err)))
        return rc;
    char policy[16];
    if ((rc = copy_string(l, sec, "client_cert", "none", policy, sizeof policy, err)))
        return rc;
    if (strcmp(policy, "none") == 0)
        lc->client_cert = CLIENT_CERT_NONE;
    else if (strcmp(policy, "request") == 0)
        lc->client_cert = CLIENT_CERT_REQUEST;
    else if (strcmp(policy, "require") == 0)
        lc->client_cert = CLIENT_CERT_REQUIRE;
    else
        return err_param(err, DUPLA_EINVAL, "client_cert",
                         "%s: %s.client_cert: must be \"none\", \"request\" or \"require\"",
                         cfg->path, sec);
    if ((rc = copy_string(l, sec, "trust", "", tmp, sizeof tmp, err)))
        return rc;
    if (tmp[0] && (rc = set_path(cfg, tmp, lc->trust_file, "trust", err)))
        return rc;
    if (lc->client_cert != CLIENT_CERT_NONE && !lc->trust_file[0])
        return err_param(err, DUPLA_EINVAL, "trust",
                         "%s: %s.trust: a listener that takes client certificates needs a trust "
                         "store (CA certificates, PEM)",
                         cfg->path, sec);
    if ((rc = copy_string(l, sec, "crl", "", tmp, sizeof tmp, err)))
        return rc;
    if (tmp[0] && (rc = set_path(cfg, tmp, lc->crl_file, "crl", err)))
        return rc;
    long long hsts;
    if ((rc = config_get_int(l, sec, "hsts_max_age", 0, LISTENER_HSTS_MAX_AGE_MAX,
                             LISTENER_DEFAULT_HSTS_MAX_AGE, &hsts, err)))
        return rc;
    lc->hsts_max_age = (unsigned)hsts;
    if ((rc = copy_string(l, sec, "tls_priorities", "", lc->tls_priorities,
                          sizeof lc->tls_priorities, err)))
        return rc;
    /* /metrics tells how the platform is used: by default only a listener
     * on a loopback address (an operator's, or a scraper's on the host)
     * serves it, never a public one. */
    bool loopback = strncmp(lc->address, "127.", 4) == 0 || strcmp(lc->address, "::1") == 0;
    int metrics;
    if ((rc = config_get_bool(l, sec, "metrics", loopback, &metrics, err)))
        return rc;
    lc->metrics = metrics != 0;
    for (size_t i = 0; i < idx; i++)
        if (strcmp(cfg->listeners[i].name, lc->name) == 0)
            return err_param(err, DUPLA_EINVAL, "name", "%s: %s.name: \"%s\" is used twice",
                             cfg->path, sec, lc->name);
    return 0;
}

static int parse_limits(struct dupla_config *cfg, json_t *lim, err_t *err)
{
    struct limits_config *l = &cfg->limits;
    long long v;
    int rc;
    if (lim && !json_is_object(lim))
        return err_param(err, DUPLA_EINVAL, "limits", "%s: limits: must be an object", cfg->path);
    static const char *const keys[] = {"max_header_bytes",  "max_url_bytes",
                                       "max_query_params",  "max_body_bytes",
                                       "max_connections",   "max_connections_per_ip",
                                       "request_seconds",   "idle_seconds",
                                       "handshake_seconds", NULL};
    if ((rc = config_only_keys(lim, "limits", keys, err)))
        return rc;
#define LIMIT(key, min, max, def, field, type)                                                     \
    if ((rc = config_get_int(lim, "limits", key, min, max, def, &v, err)))                         \
        return rc;                                                                                 \
    l->field = (type)v;
    LIMIT("max_header_bytes", 256, 65536, LIMIT_DEFAULT_HEADER_BYTES, max_header_bytes, size_t)
    LIMIT("max_url_bytes", 256, 65536, LIMIT_DEFAULT_URL_BYTES, max_url_bytes, size_t)
    LIMIT("max_query_params", 1, 100000, LIMIT_DEFAULT_QUERY_PARAMS, max_query_params, unsigned)
    LIMIT("max_body_bytes", 0, 1LL << 34, LIMIT_DEFAULT_BODY_BYTES, max_body_bytes, size_t)
    LIMIT("max_connections", 1, 100000, LIMIT_DEFAULT_CONNECTIONS, max_connections, unsigned)
    LIMIT("max_connections_per_ip", 1, 100000, LIMIT_DEFAULT_CONNECTIONS_PER_IP,
          max_connections_per_ip, unsigned)
    LIMIT("request_seconds", 1, 3600, LIMIT_DEFAULT_REQUEST_SECONDS, request_seconds, unsigned)
    LIMIT("idle_seconds", 1, 3600, LIMIT_DEFAULT_IDLE_SECONDS, idle_seconds, unsigned)
    LIMIT("handshake_seconds", 1, 3600, LIMIT_DEFAULT_HANDSHAKE_SECONDS, handshake_seconds,
          unsigned)
#undef LIMIT
    return 0;
}

static int config_parse(struct dupla_config *cfg, err_t *err)
{
    json_t *root = cfg->root;
    if (!json_is_object(root))
        return err_set(err, DUPLA_EINVAL, "%s: the configuration must be a JSON object", cfg->path);
    int rc = config_only_sections(cfg, err);
    if (rc)
        return rc;
    char env[16];
    if ((rc = copy_string(root, "config", "environment", "", env, sizeof env, err)))
        return rc;
    if (strcmp(env, "test") == 0)
        cfg->environment = ENV_TEST;
    else if (strcmp(env, "production") == 0)
        cfg->environment = ENV_PRODUCTION;
    else
        return err_param(err, DUPLA_EINVAL, "environment",
                         "%s: environment: must be \"test\" or \"production\" (no default: a "
                         "deployment must say which it is)",
                         cfg->path);
    char store[CONFIG_PATH_MAX];
    if ((rc = copy_string(root, "config", "store", "sqlite:dupla.db", store, sizeof store, err)))
        return rc;
    if (strncmp(store, "sqlite:", 7) == 0) {
        char path[CONFIG_PATH_MAX];
        if ((rc = set_path(cfg, store + 7, path, "store", err)))
            return rc;
        if (snprintf(cfg->store_url, sizeof cfg->store_url, "sqlite:%s", path) >=
            (int)sizeof cfg->store_url)
            return err_param(err, DUPLA_EINVAL, "store", "%s: store: path too long", cfg->path);
    } else if (strncmp(store, "postgresql://", 13) == 0 || strncmp(store, "postgres://", 11) == 0 ||
               strchr(store, '=')) { /* a libpq URI or key/value string (host=... dbname=...) */
        if (snprintf(cfg->store_url, sizeof cfg->store_url, "%s", store) >=
            (int)sizeof cfg->store_url)
            return err_param(err, DUPLA_EINVAL, "store", "%s: store: too long", cfg->path);
    } else {
        return err_param(err, DUPLA_EINVAL, "store",
                         "%s: store: must start with \"sqlite:\" or \"postgresql://\", or be a "
                         "PostgreSQL key/value string (host=... dbname=...)",
                         cfg->path);
    }
    if ((rc = copy_string(root, "config", "log_level", "info", cfg->log_level,
                          sizeof cfg->log_level, err)))
        return rc;
    if ((rc = copy_string(root, "config", "user", "", cfg->user, sizeof cfg->user, err)))
        return rc;
    if ((rc = parse_seccomp(cfg, json_object_get(root, "seccomp"), err)))
        return rc;
    int tls_key_process;
    if ((rc = config_get_bool(root, "config", "tls_key_process", 1, &tls_key_process, err)))
        return rc;
    cfg->tls_key_process = tls_key_process;
    json_t *ls = json_object_get(root, "listeners");
    if (ls && !json_is_array(ls))
        return err_param(err, DUPLA_EINVAL, "listeners", "%s: listeners: must be an array",
                         cfg->path);
    if (ls && json_array_size(ls) > CONFIG_MAX_LISTENERS)
        return err_param(err, DUPLA_EINVAL, "listeners", "%s: listeners: at most %d", cfg->path,
                         CONFIG_MAX_LISTENERS);
    size_t i;
    json_t *l;
    json_array_foreach(ls, i, l)
    {
        if ((rc = parse_listener(cfg, l, i, err)))
            return rc;
        cfg->n_listeners = i + 1;
    }
    return parse_limits(cfg, json_object_get(root, "limits"), err);
}

int config_load(const char *path, struct dupla_config *cfg, err_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    char tmp[CONFIG_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(cfg->dir, sizeof cfg->dir, "%s", dirname(tmp));
    json_error_t jerr;
    cfg->root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!cfg->root)
        return err_set(err, DUPLA_EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    int rc = config_parse(cfg, err);
    if (rc)
        config_free(cfg);
    return rc;
}

int config_load_string(const char *text, const char *dir, struct dupla_config *cfg, err_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", "(string)");
    snprintf(cfg->dir, sizeof cfg->dir, "%s", dir ? dir : "");
    json_error_t jerr;
    cfg->root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!cfg->root)
        return err_set(err, DUPLA_EINVAL, "(string):%d:%d: %s", jerr.line, jerr.column, jerr.text);
    int rc = config_parse(cfg, err);
    if (rc)
        config_free(cfg);
    return rc;
}

void config_free(struct dupla_config *cfg)
{
    json_decref(cfg->root);
    cfg->root = NULL;
}

json_t *config_section(const struct dupla_config *cfg, const char *name)
{
    return cfg->root ? json_object_get(cfg->root, name) : NULL;
}
