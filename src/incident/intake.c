/*
 * intake.c: the phone and web/API channels. Both check their input, then
 * make the incident and queue its receipt in one transaction, exactly as
 * mail intake does (maildir.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ident.h"
#include "incident/internal.h"

/* The agreement ids the agreement module makes: 32 lowercase hex digits;
 * anything printable up to INCIDENT_AGREEMENT_MAX is taken when the hook
 * checks it instead. */
static bool agreement_id_form(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > INCIDENT_AGREEMENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

struct report {
    enum incident_type type;
    enum incident_channel channel;
    const char *org_cvr;
    const char *agreement_id;
    const char *reporter;
    const char *reporter_email;
    const char *title;
    const char *description;
};

/* Checks r, cleans its texts, and makes the incident. */
static int report(struct incident *inc, const struct incident_actor *actor, const struct report *r,
                  char *id_out, err_t *err)
{
    if ((unsigned)r->type >= INCIDENT_TYPE_COUNT)
        return err_param(err, DUPLA_EINVAL, "type",
                         "The type must be Prod-Data, Prod-Aftale or TFE.");
    if (!r->org_cvr || !ident_cvr_valid(str_from_cstr(r->org_cvr)))
        return err_param(err, DUPLA_EINVAL, "organisation",
                         "The organisation must be a valid CVR number.");
    if (inc->hooks.org_exists && inc->hooks.org_exists(inc->hooks.ctx, r->org_cvr) != 1)
        return err_param(err, DUPLA_ENOTFOUND, "organisation",
                         "No organisation with that CVR number.");
    if (!r->description || !*r->description)
        return err_param(err, DUPLA_EINVAL, "description", "The description is required.");
    size_t dlen = strlen(r->description);
    if (dlen > INCIDENT_DESCRIPTION_MAX)
        return err_param(err, DUPLA_ELIMIT, "description",
                         "The description is too long (at most %d bytes).",
                         INCIDENT_DESCRIPTION_MAX);
    if (r->title && strlen(r->title) > INCIDENT_TITLE_MAX)
        return err_param(err, DUPLA_ELIMIT, "title", "The title is too long (at most %d bytes).",
                         INCIDENT_TITLE_MAX);
    if (r->reporter_email && r->reporter_email[0] && !mail_address_valid(r->reporter_email))
        return err_param(err, DUPLA_EINVAL, "caller_email", "That is not a mail address.");
    const char *ag = r->agreement_id && r->agreement_id[0] ? r->agreement_id : NULL;
    if (ag) {
        if (!agreement_id_form(ag))
            return err_param(err, DUPLA_EINVAL, "agreement_id", "That is not an agreement id.");
        if (inc->hooks.agreement_of_org &&
            inc->hooks.agreement_of_org(inc->hooks.ctx, r->org_cvr, ag) != 1)
            return err_param(err, DUPLA_ENOTFOUND, "agreement_id",
                             "The organisation has no agreement with that id.");
    }
    char *desc = mail_text_clip(r->description, dlen, INCIDENT_DESCRIPTION_MAX);
    char *title = NULL, *reporter = NULL, *email = NULL;
    if (r->title && *r->title) {
        title = mail_text_clip(r->title, strlen(r->title), INCIDENT_TITLE_MAX);
    } else if (desc) {
        size_t n = strcspn(desc, "\r\n");
        title = mail_text_clip(desc, n, INCIDENT_TITLE_MAX);
    }
    reporter = mail_text_clip(r->reporter, strlen(r->reporter), INCIDENT_NAME_MAX - 1);
    if (r->reporter_email && r->reporter_email[0]) {
        email = strdup(r->reporter_email);
        if (email)
            mail_address_lower(email);
    }
    int rc = 0;
    if (!desc || !title || !reporter || (r->reporter_email && r->reporter_email[0] && !email))
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
    char who[INCIDENT_NAME_MAX + 32];
    incident_actor_label(actor, who, sizeof who);
    store_conn_t *c = NULL;
    if (rc == 0)
        rc = store_conn_get(inc->st, &c, err);
    if (rc == 0) {
        struct inc_new n = {.type = r->type,
                            .channel = r->channel,
                            .org_cvr = r->org_cvr,
                            .agreement_id = ag,
                            .reporter = reporter,
                            .reporter_email = email,
                            .title = title[0] ? title : "(uden titel / no title)",
                            .description = desc,
                            .actor = who};
        if ((rc = store_begin(c, err)) == 0 &&
            (rc = incident_insert(inc, c, &n, clock_now_ms(), id_out, err)) == 0)
            rc = store_commit(c, err);
        if (rc)
            store_rollback(c);
        store_conn_put(c);
    }
    free(desc);
    free(title);
    free(reporter);
    free(email);
    return rc;
}

int incident_report_phone(incident_t *inc, const struct incident_actor *actor,
                          const struct incident_phone_report *r, char *id_out, err_t *err)
{
    if (!(actor->roles & INCIDENT_ROLE_STAFF))
        return err_set(err, DUPLA_EFORBIDDEN, "Only the data owner's staff record calls.");
    if (!r->caller || !*r->caller)
        return err_param(err, DUPLA_EINVAL, "caller", "The caller's name is required.");
    if (strlen(r->caller) >= INCIDENT_NAME_MAX)
        return err_param(err, DUPLA_ELIMIT, "caller", "The caller's name is too long.");
    struct report rep = {.type = r->type,
                         .channel = INCIDENT_PHONE,
                         .org_cvr = r->org_cvr,
                         .agreement_id = r->agreement_id,
                         .reporter = r->caller,
                         .reporter_email = r->caller_email,
                         .title = r->title,
                         .description = r->description};
    return report(inc, actor, &rep, id_out, err);
}

int incident_report_web(incident_t *inc, const struct incident_actor *actor,
                        const struct incident_web_report *r, char *id_out, err_t *err)
{
    if (!(actor->roles & INCIDENT_ROLE_MEMBER) || !actor->org_cvr[0])
        return err_set(err, DUPLA_EFORBIDDEN,
                       "Only an organisation's users report incidents here.");
    struct report rep = {.type = r->type,
                         .channel = INCIDENT_WEB,
                         .org_cvr = actor->org_cvr,
                         .agreement_id = r->agreement_id,
                         .reporter = actor->name[0] ? actor->name : "(unnamed user)",
                         .reporter_email = actor->email[0] ? actor->email : NULL,
                         .title = r->title,
                         .description = r->description};
    return report(inc, actor, &rep, id_out, err);
}

int incident_report_json(incident_t *inc, const struct incident_actor *actor, const json_t *body,
                         char *id_out, err_t *err)
{
    if (!json_is_object(body))
        return err_set(err, DUPLA_EINVAL, "The body must be a JSON object.");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "type") != 0 && strcmp(key, "title") != 0 &&
            strcmp(key, "description") != 0 && strcmp(key, "agreement_id") != 0)
            return err_param(err, DUPLA_EINVAL, key, "Unknown member '%.60s'.", key);
        if (!json_is_string(v) && !(json_is_null(v) && strcmp(key, "agreement_id") == 0))
            return err_param(err, DUPLA_EINVAL, key, "'%s' must be a string.", key);
    }
    const char *type = json_string_value(json_object_get(body, "type"));
    int t = incident_type_parse(type);
    if (t < 0)
        return err_param(err, DUPLA_EINVAL, "type",
                         "The type must be Prod-Data, Prod-Aftale or TFE.");
    struct incident_web_report r = {
        .type = (enum incident_type)t,
        .title = json_string_value(json_object_get(body, "title")),
        .description = json_string_value(json_object_get(body, "description")),
        .agreement_id = json_string_value(json_object_get(body, "agreement_id")),
    };
    return incident_report_web(inc, actor, &r, id_out, err);
}
