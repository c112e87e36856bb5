/*
 * identity.c: opening the identity module: migrations, the "identity"
 * configuration section, the data owner organisation and the registry.
 *
 * The "identity" section (every key optional):
 *   owner_name                 the data owner's name ("Skatteforvaltningen")
 *   owner_cvr                  its CVR ("19552101")
 *   setup_secret_seconds       lifetime of a one-time set-up secret (7 days)
 *   session_idle_seconds       a session ends after this long unused (30 min)
 *   session_absolute_seconds   ... and this long after login at the latest (12 h)
 *   registry_poll_ms           how often the hot path looks for changes made
 *                              by other processes (1000; 0: never)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ident.h"
#include "identity/internal.h"

static int read_config(identity_t *id, const struct dupla_config *cfg, err_t *err)
{
    const json_t *sec = cfg ? config_section(cfg, "identity") : NULL;
    const char *owner_name, *owner_cvr;
    long long setup, idle, abs, poll;
    static const char *const keys[] = {"owner_name",
                                       "owner_cvr",
                                       "setup_secret_seconds",
                                       "session_idle_seconds",
                                       "session_absolute_seconds",
                                       "registry_poll_ms",
                                       NULL};
    int rc;
    if ((rc = config_only_keys(sec, "identity", keys, err)) ||
        (rc = config_get_string(sec, "identity", "owner_name", IDENTITY_DEFAULT_OWNER_NAME,
                                &owner_name, err)) ||
        (rc = config_get_string(sec, "identity", "owner_cvr", IDENTITY_DEFAULT_OWNER_CVR,
                                &owner_cvr, err)) ||
        (rc = config_get_int(sec, "identity", "setup_secret_seconds", 60, 90LL * 24 * 3600,
                             IDENTITY_DEFAULT_SETUP_SECONDS, &setup, err)) ||
        (rc = config_get_int(sec, "identity", "session_idle_seconds", 1, 24 * 3600,
                             IDENTITY_DEFAULT_SESSION_IDLE_S, &idle, err)) ||
        (rc = config_get_int(sec, "identity", "session_absolute_seconds", 1, 7 * 24 * 3600,
                             IDENTITY_DEFAULT_SESSION_ABSOLUTE_S, &abs, err)) ||
        (rc = config_get_int(sec, "identity", "registry_poll_ms", 0, 3600 * 1000,
                             IDENTITY_DEFAULT_REGISTRY_POLL_MS, &poll, err)))
        return rc;
    if (!ident_cvr_valid(str_from_cstr(owner_cvr)))
        return err_param(err, DUPLA_EINVAL, "owner_cvr",
                         "identity.owner_cvr: not a valid CVR number");
    if (!owner_name[0] || strlen(owner_name) > IDENTITY_NAME_MAX)
        return err_param(err, DUPLA_EINVAL, "owner_name", "identity.owner_name: empty or too long");
    snprintf(id->owner_name, sizeof id->owner_name, "%s", owner_name);
    snprintf(id->owner_cvr, sizeof id->owner_cvr, "%s", owner_cvr);
    id->setup_ms = setup * 1000;
    id->session_idle_ms = idle * 1000;
    id->session_abs_ms = abs * 1000;
    id->registry_poll_ms = poll;
    return 0;
}

int identity_open(store_t *st, const struct dupla_config *cfg, identity_t **out, err_t *err)
{
    identity_t *id = calloc(1, sizeof *id);
    if (!id)
        return err_internal(err, DUPLA_ENOMEM, "identity: out of memory");
    id->st = st;
    id->cfg = cfg;
    int rc = read_config(id, cfg, err);
    if (!rc)
        rc = identity_schema_apply(st, err);
    if (!rc)
        rc = identity_owner_ensure(id, err);
    if (rc) {
        free(id);
        return rc;
    }
    if ((rc = identity_registry_init(id, err))) {
        identity_registry_free(id);
        free(id);
        return rc;
    }
    *out = id;
    return 0;
}

void identity_close(identity_t *id)
{
    if (!id)
        return;
    identity_registry_free(id);
    free(id);
}

store_t *identity_store(identity_t *id)
{
    return id->st;
}
