/*
 * config.c: the mail module's settings: their defaults and the "mail"
 * section of the configuration (mail.h).
 */
#include <stdio.h>
#include <string.h>

#include "mail/internal.h"

void mail_settings_default(struct mail_settings *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->from, sizeof s->from, "dupla@localhost");
    snprintf(s->from_name, sizeof s->from_name, "DUPLA");
    snprintf(s->smtp_url, sizeof s->smtp_url, "smtp://127.0.0.1:25");
    s->smtp_timeout_seconds = MAIL_DEFAULT_TIMEOUT_SECONDS;
    s->retry_base_seconds = MAIL_DEFAULT_RETRY_BASE_SECONDS;
    s->retry_max_seconds = MAIL_DEFAULT_RETRY_MAX_SECONDS;
    s->max_attempts = MAIL_DEFAULT_MAX_ATTEMPTS;
}

static int get_str(const json_t *sec, const char *key, char *out, size_t cap, err_t *err)
{
    const char *v;
    int rc = config_get_string(sec, "mail", key, out, &v, err);
    if (rc)
        return rc;
    if (strlen(v) >= cap)
        return err_param(err, DUPLA_EINVAL, key, "mail.%s is too long (at most %zu bytes)", key,
                         cap - 1);
    memmove(out, v, strlen(v) + 1);
    return 0;
}

static int get_unsigned(const json_t *sec, const char *key, long long min, long long max,
                        unsigned *inout, err_t *err)
{
    long long v;
    int rc = config_get_int(sec, "mail", key, min, max, *inout, &v, err);
    if (rc == 0)
        *inout = (unsigned)v;
    return rc;
}

int mail_config_read(const struct dupla_config *cfg, struct mail_settings *s, err_t *err)
{
    mail_settings_default(s);
    const json_t *ml = config_section(cfg, "mail");
    static const char *const keys[] = {"from",
                                       "from_name",
                                       "smtp_url",
                                       "smtp_starttls",
                                       "smtp_ca_file",
                                       "timeout_seconds",
                                       "retry_base_seconds",
                                       "retry_max_seconds",
                                       "max_attempts",
                                       NULL};
    int rc, b;
    if ((rc = config_only_keys(ml, "mail", keys, err)) ||
        (rc = get_str(ml, "from", s->from, sizeof s->from, err)))
        return rc;
    if (!mail_address_valid(s->from))
        return err_param(err, DUPLA_EINVAL, "from", "mail.from is not a mail address");
    if ((rc = get_str(ml, "from_name", s->from_name, sizeof s->from_name, err)))
        return rc;
    if ((rc = get_str(ml, "smtp_url", s->smtp_url, sizeof s->smtp_url, err)))
        return rc;
    if (strncmp(s->smtp_url, "smtp://", 7) != 0 && strncmp(s->smtp_url, "smtps://", 8) != 0)
        return err_param(err, DUPLA_EINVAL, "smtp_url",
                         "mail.smtp_url must start with smtp:// or smtps://");
    s->smtp_configured = ml && json_object_get(ml, "smtp_url") != NULL;
    if ((rc = config_get_bool(ml, "mail", "smtp_starttls", 0, &b, err)))
        return rc;
    s->smtp_starttls = b != 0;
    char ca[CONFIG_PATH_MAX] = "";
    if ((rc = get_str(ml, "smtp_ca_file", ca, sizeof ca, err)))
        return rc;
    if (ca[0] && config_resolve_path(cfg, ca, s->smtp_ca_file, sizeof s->smtp_ca_file) != 0)
        return err_param(err, DUPLA_EINVAL, "smtp_ca_file", "mail.smtp_ca_file is too long");
    if ((rc = get_unsigned(ml, "timeout_seconds", 1, 3600, &s->smtp_timeout_seconds, err)) ||
        (rc = get_unsigned(ml, "retry_base_seconds", 0, 86400, &s->retry_base_seconds, err)) ||
        (rc = get_unsigned(ml, "retry_max_seconds", 0, 7 * 86400, &s->retry_max_seconds, err)) ||
        (rc = get_unsigned(ml, "max_attempts", 1, 1000, &s->max_attempts, err)))
        return rc;
    return 0;
}
