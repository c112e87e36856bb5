/*
 * service.c: the token service's configuration and life cycle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "token/internal.h"

static int copy_value(const json_t *sec, const char *key, const char *def, char *out, size_t cap,
                      err_t *err)
{
    const char *v;
    int rc = config_get_string(sec, "token", key, def, &v, err);
    if (rc)
        return rc;
    if (snprintf(out, cap, "%s", v) >= (int)cap)
        return err_param(err, DUPLA_EINVAL, key, "token.%s: longer than %zu bytes", key, cap - 1);
    return 0;
}

int token_config_load(const struct dupla_config *cfg, struct token_config *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    const json_t *sec = config_section(cfg, "token");
    static const char *const keys[] = {
        "path",    "listener",         "issuer",         "audience",         "client_id",
        "key_dir", "lifetime_seconds", "leeway_seconds", "key_max_age_days", NULL};
    char key_dir[CONFIG_PATH_MAX];
    long long lifetime, leeway, max_age;
    int rc;
    if ((rc = config_only_keys(sec, "token", keys, err)) ||
        (rc = copy_value(sec, "path", TOKEN_DEFAULT_PATH, out->path, sizeof out->path, err)) ||
        (rc = copy_value(sec, "listener", "", out->listener, sizeof out->listener, err)) ||
        (rc = copy_value(sec, "issuer", TOKEN_DEFAULT_ISSUER, out->issuer, sizeof out->issuer,
                         err)) ||
        (rc = copy_value(sec, "audience", TOKEN_DEFAULT_AUDIENCE, out->audience,
                         sizeof out->audience, err)) ||
        (rc = copy_value(sec, "client_id", TOKEN_DEFAULT_CLIENT_ID, out->client_id,
                         sizeof out->client_id, err)) ||
        (rc = copy_value(sec, "key_dir", TOKEN_DEFAULT_KEY_DIR, key_dir, sizeof key_dir, err)) ||
        (rc = config_get_int(sec, "token", "lifetime_seconds", 10, TOKEN_MAX_LIFETIME_S,
                             TOKEN_DEFAULT_LIFETIME_S, &lifetime, err)) ||
        (rc = config_get_int(sec, "token", "leeway_seconds", 0, TOKEN_MAX_LEEWAY_S,
                             TOKEN_DEFAULT_LEEWAY_S, &leeway, err)) ||
        (rc = config_get_int(sec, "token", "key_max_age_days", 1, TOKEN_MAX_KEY_AGE_DAYS,
                             TOKEN_DEFAULT_KEY_AGE_DAYS, &max_age, err)))
        return rc;
    if (out->path[0] != '/')
        return err_param(err, DUPLA_EINVAL, "path", "token.path: must start with '/'");
    if (!out->issuer[0] || !out->audience[0])
        return err_param(err, DUPLA_EINVAL, "issuer", "token.issuer and token.audience: empty");
    if (config_resolve_path(cfg, key_dir, out->key_dir, sizeof out->key_dir))
        return err_param(err, DUPLA_EINVAL, "key_dir", "token.key_dir: path too long");
    out->lifetime_s = (long)lifetime;
    out->leeway_s = (long)leeway;
    out->key_max_age_days = (long)max_age;
    out->env = cfg->environment;
    return 0;
}

int token_service_new(const struct token_config *cfg, identity_t *id, token_service_t **out,
                      err_t *err)
{
    token_service_t *ts = calloc(1, sizeof *ts);
    if (!ts)
        return err_internal(err, DUPLA_ENOMEM, "token: out of memory");
    ts->cfg = *cfg;
    ts->id = id;
    int rc = token_keydir_ensure(cfg->key_dir, err);
    if (!rc)
        rc = token_keydir_hold(cfg->key_dir, err);
    if (rc)
        goto fail;
    rc = token_keys_open(ts, err);
    if (rc == DUPLA_ENOTFOUND) {
        char kid[PKI_KID_MAX];
        if ((rc = token_rotate_key(cfg, kid, err)))
            goto fail;
        rc = token_keys_open(ts, err);
    }
    if (rc)
        goto fail;
    pthread_mutex_init(&ts->sign_lock, NULL);
    *out = ts;
    return 0;
fail:
    free(ts);
    return rc;
}

void token_service_free(token_service_t *ts)
{
    if (!ts)
        return;
    snapshot_free(ts->keys);
    pthread_mutex_destroy(&ts->sign_lock);
    free(ts);
}

const struct token_config *token_service_config(const token_service_t *ts)
{
    return &ts->cfg;
}
