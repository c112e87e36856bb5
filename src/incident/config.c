/*
 * config.c: the incident module's settings: their defaults and the
 * "incident" section of the configuration (incident.h). The "mail" section
 * is the mail module's (mail/config.c).
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
 * public_url}. */
int incident_settings_from_config(const struct dupla_config *cfg, struct incident_settings *s,
                                  err_t *err)
{
    incident_settings_default(s);
    const json_t *in = config_section(cfg, "incident");
    /* maildir is read by the serve and mail commands (serve_modules.c). */
    static const char *const in_keys[] = {"general_mailbox",
                                          "attachments_max",
                                          "attachment_max_bytes",
                                          "attachments_total_bytes",
                                          "message_max_bytes",
                                          "public_url",
                                          "maildir",
                                          NULL};
    long long v;
    int rc = config_only_keys(in, "incident", in_keys, err);
    if (rc)
        return rc;
    if ((rc = get_str(in, "incident", "general_mailbox", s->general_mailbox,
                      sizeof s->general_mailbox, err)))
        return rc;
    if (s->general_mailbox[0] && !mail_address_valid(s->general_mailbox))
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
    return 0;
}
