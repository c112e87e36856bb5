/*
 * config.c: the incident module's settings: their defaults and the
 * "incident" and "mail" sections of the configuration (incident.h).
 */
#include <stdio.h>
#include <string.h>

#include "incident/internal.h"

void incident_settings_default(struct incident_settings *s)
{
    memset(s, 0, sizeof *s);
    s->attachments_max = INCIDENT_DEFAULT_ATTACHMENTS_MAX;
    s->attachment_max_bytes = INCIDENT_DEFAULT_ATTACHMENT_BYTES;
    s->attachments_total_bytes = INCIDENT_DEFAULT_ATTACHMENTS_TOTAL;
    s->message_max_bytes = INCIDENT_DEFAULT_MESSAGE_BYTES;
    snprintf(s->from, sizeof s->from, "dupla@localhost");
    snprintf(s->from_name, sizeof s->from_name, "DUPLA");
    snprintf(s->smtp_url, sizeof s->smtp_url, "smtp://127.0.0.1:25");
    s->smtp_timeout_seconds = MAIL_DEFAULT_TIMEOUT_SECONDS;
    s->retry_base_seconds = MAIL_DEFAULT_RETRY_BASE_SECONDS;
    s->retry_max_seconds = MAIL_DEFAULT_RETRY_MAX_SECONDS;
    s->max_attempts = MAIL_DEFAULT_MAX_ATTEMPTS;
    snprintf(s->public_url, sizeof s->public_url, "https://localhost");
}

static int get_str(const json_t *sec, const char *secname, const char *key, char *out, size_t cap,
                   err_t *err)
{
    const char *v;
    int rc = config_get_string(sec, secname, key, out, &v, err);
    if (rc)
        return rc;
    if (strlen(v) >= cap)
        return err_set(err, DUPLA_EINVAL, "%s.%s is too long (at most %zu bytes)", secname, key,
                       cap - 1);
    memmove(out, v, strlen(v) + 1);
    return 0;
}

static int get_num(const json_t *sec, const char *secname, const char *key, long long min,
                   long long max, long long def, long long *out, err_t *err)
{
    return config_get_int(sec, secname, key, min, max, def, out, err);
}

/* See incident.h. Keys: incident.{general_mailbox, attachments_max,
 * attachment_max_bytes, attachments_total_bytes, message_max_bytes,
 * public_url}; mail.{from, from_name, smtp_url, smtp_starttls,
 * smtp_ca_file, timeout_seconds, retry_base_seconds, retry_max_seconds,
 * max_attempts}. */
int incident_settings_from_config(const struct dupla_config *cfg, struct incident_settings *s,
                                  err_t *err)
{
    incident_settings_default(s);
    const json_t *in = config_section(cfg, "incident"), *ml = config_section(cfg, "mail");
    long long v;
    int rc, b;
    if ((rc = get_str(in, "incident", "general_mailbox", s->general_mailbox,
                      sizeof s->general_mailbox, err)))
        return rc;
    if (s->general_mailbox[0] && !incident_address_valid(s->general_mailbox))
        return err_set(err, DUPLA_EINVAL, "incident.general_mailbox is not a mail address");
    if ((rc = get_num(in, "incident", "attachments_max", 0, 1000, s->attachments_max, &v, err)))
        return rc;
    s->attachments_max = (unsigned)v;
    if ((rc = get_num(in, "incident", "attachment_max_bytes", 0, 1LL << 30,
                      (long long)s->attachment_max_bytes, &v, err)))
        return rc;
    s->attachment_max_bytes = (size_t)v;
    if ((rc = get_num(in, "incident", "attachments_total_bytes", 0, 1LL << 31,
                      (long long)s->attachments_total_bytes, &v, err)))
        return rc;
    s->attachments_total_bytes = (size_t)v;
    if ((rc = get_num(in, "incident", "message_max_bytes", 4096, 1LL << 31,
                      (long long)s->message_max_bytes, &v, err)))
        return rc;
    s->message_max_bytes = (size_t)v;
    if ((rc = get_str(in, "incident", "public_url", s->public_url, sizeof s->public_url, err)))
        return rc;
    if ((rc = get_str(ml, "mail", "from", s->from, sizeof s->from, err)))
        return rc;
    if (!incident_address_valid(s->from))
        return err_set(err, DUPLA_EINVAL, "mail.from is not a mail address");
    if ((rc = get_str(ml, "mail", "from_name", s->from_name, sizeof s->from_name, err)))
        return rc;
    if ((rc = get_str(ml, "mail", "smtp_url", s->smtp_url, sizeof s->smtp_url, err)))
        return rc;
    if (strncmp(s->smtp_url, "smtp://", 7) != 0 && strncmp(s->smtp_url, "smtps://", 8) != 0)
        return err_set(err, DUPLA_EINVAL, "mail.smtp_url must start with smtp:// or smtps://");
    if ((rc = config_get_bool(ml, "mail", "smtp_starttls", 0, &b, err)))
        return rc;
    s->smtp_starttls = b != 0;
    char ca[CONFIG_PATH_MAX] = "";
    if ((rc = get_str(ml, "mail", "smtp_ca_file", ca, sizeof ca, err)))
        return rc;
    if (ca[0] && config_resolve_path(cfg, ca, s->smtp_ca_file, sizeof s->smtp_ca_file) != 0)
        return err_set(err, DUPLA_EINVAL, "mail.smtp_ca_file is too long");
    if ((rc = get_num(ml, "mail", "timeout_seconds", 1, 3600, s->smtp_timeout_seconds, &v, err)))
        return rc;
    s->smtp_timeout_seconds = (unsigned)v;
    if ((rc = get_num(ml, "mail", "retry_base_seconds", 0, 86400, s->retry_base_seconds, &v, err)))
        return rc;
    s->retry_base_seconds = (unsigned)v;
    if ((rc =
             get_num(ml, "mail", "retry_max_seconds", 0, 7 * 86400, s->retry_max_seconds, &v, err)))
        return rc;
    s->retry_max_seconds = (unsigned)v;
    if ((rc = get_num(ml, "mail", "max_attempts", 1, 1000, s->max_attempts, &v, err)))
        return rc;
    s->max_attempts = (unsigned)v;
    return 0;
}
