/*
 * incident.c: the module and the incident row: opening the module, making
 * an incident with its receipt, loading a row, its history lines, and who
 * may see it. The changes made to an incident afterwards are state.c, the
 * JSON read back json.c, the settings config.c.
 *
 * Every change is one transaction holding the change, its history row and
 * the mail it causes (handed to the mail module: mail_enqueue), so a mail
 * exists exactly when its change happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "incident/internal.h"

/* ---- the module ---- */

int incident_open(store_t *st, const struct incident_hooks *hooks,
                  const struct incident_settings *settings, incident_t **out, err_t *err)
{
    int rc = incident_schema_migrate(st, err);
    if (rc)
        return rc;
    incident_t *inc = calloc(1, sizeof *inc);
    if (!inc)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    inc->st = st;
    if (hooks)
        inc->hooks = *hooks;
    if (settings)
        inc->set = *settings;
    else
        incident_settings_default(&inc->set);
    mail_gmime_once();
    if ((rc = opslog_init(&inc->log, inc, err))) {
        free(inc);
        return rc;
    }
    *out = inc;
    return 0;
}

void incident_close(incident_t *inc)
{
    if (!inc)
        return;
    opslog_fini(&inc->log);
    free(inc);
}

opslog_t *incident_opslog(incident_t *inc)
{
    return &inc->log;
}

void incident_actor_label(const struct incident_actor *a, char *out, size_t cap)
{
    if (a->user_id > 0)
        snprintf(out, cap, "user:%lld (%s)", (long long)a->user_id, a->name);
    else
        snprintf(out, cap, "%s", a->name[0] ? a->name : "unknown");
}

void incident_receipt_recipient(struct incident *inc, const char *org_cvr, const char *fallback,
                                char *out, size_t cap)
{
    out[0] = '\0';
    if (org_cvr && org_cvr[0] && inc->hooks.org_mailbox &&
        inc->hooks.org_mailbox(inc->hooks.ctx, org_cvr, out, cap) == 0 && mail_address_valid(out))
        return;
    snprintf(out, cap, "%s", fallback && mail_address_valid(fallback) ? fallback : "");
}

int incident_history_add(store_conn_t *c, const char *incident_id, int64_t now, const char *actor,
                         const char *kind, const char *from_status, const char *to_status,
                         const char *text, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "INSERT INTO incident_history (incident_id, at, actor, kind,"
                           " from_status, to_status, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, incident_id);
    store_bind_int64(s, 2, now);
    store_bind_cstr(s, 3, actor);
    store_bind_cstr(s, 4, kind);
    store_bind_cstr(s, 5, from_status);
    store_bind_cstr(s, 6, to_status);
    store_bind_cstr(s, 7, text);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* The next number of year, inside the caller's transaction. */
static int next_number(store_conn_t *c, int year, int64_t *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "INSERT INTO incident_seq (year, last) VALUES (?, 1)"
                           " ON CONFLICT (year) DO UPDATE SET last = incident_seq.last + 1",
                           &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, year);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if ((rc = store_prepare(c, "SELECT last FROM incident_seq WHERE year = ?", &s, err)))
        return rc;
    store_bind_int64(s, 1, year);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        *out = store_col_int64(s, 0);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if (rc != STORE_ROW || *out > INCIDENT_SEQ_MAX)
        return err_internal(err, DUPLA_ELIMIT, "incident numbers for %d are used up", year);
    return 0;
}

/* Queues the receipt of a new incident. */
static int queue_receipt(struct incident *inc, store_conn_t *c, const char *id,
                         const struct inc_new *n, int64_t now, err_t *err)
{
    char to[INCIDENT_ADDRESS_MAX + 1];
    incident_receipt_recipient(inc, n->org_cvr, n->reporter_email, to, sizeof to);
    if (!to[0]) {
        log_warn("incident %s: no mailbox for the receipt", id);
        return 0;
    }
    const char *cc = NULL;
    if (n->reporter_email && mail_address_valid(n->reporter_email) &&
        strcasecmp(n->reporter_email, to) != 0)
        cc = n->reporter_email;
    char subject[MAIL_SUBJECT_MAX];
    snprintf(subject, sizeof subject, "Kvittering / Receipt %s: %.200s", id, n->title);
    buf_t body;
    buf_init(&body, MAIL_BODY_MAX);
    buf_printf(&body,
               "Vi har modtaget jeres henvendelse og oprettet hændelsen %s.\n"
               "We have received your report and opened incident %s.\n\n"
               "Type: %s (%s)\nKanal / Channel: %s\nIndmeldt af / Reported by: %s\n"
               "Emne / Subject: %s\n\n"
               "Oplys venligst %s ved henvendelser om sagen, og bevar det i emnefeltet, "
               "hvis du svarer på denne mail.\n"
               "Please quote %s when you contact us about it, and keep it in the subject "
               "if you reply to this mail.\n",
               id, id, incident_type_name(n->type),
               environment_name(incident_type_environment(n->type)),
               incident_channel_name(n->channel), n->reporter, n->title, id, id);
    if (n->unknown_sender)
        buf_printf(&body, "\nAfsenderadressen er ikke registreret hos en organisation.\n"
                          "The sender address is not registered with any organisation.\n");
    char source[64];
    snprintf(source, sizeof source, "receipt:%s", id);
    struct mail_message m = {.kind = "receipt",
                             .to = to,
                             .cc = cc,
                             .subject = subject,
                             .body = body.data ? body.data : "",
                             .in_reply_to = n->mail_message_id,
                             .source = source,
                             .ref = id};
    int rc =
        body.data ? mail_enqueue(c, &m, now, err) : err_set(err, DUPLA_ENOMEM, "out of memory");
    buf_free(&body);
    return rc;
}

int incident_insert(struct incident *inc, store_conn_t *c, const struct inc_new *n, int64_t now,
                    char *id_out, err_t *err)
{
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int year = tm.tm_year + 1900;
    int64_t num = 0;
    int rc = next_number(c, year, &num, err);
    if (rc)
        return rc;
    if (year < 1000 || year > 9999)
        return err_internal(err, DUPLA_EINTERNAL, "the clock says year %d", year);
    char idb[32];
    snprintf(idb, sizeof idb, INCIDENT_ID_PREFIX "%04d-%06d", year, (int)num);
    memcpy(id_out, idb, INCIDENT_ID_LEN + 1);
    store_stmt_t *s;
    rc = store_prepare(c,
                       "INSERT INTO incident (id, type, environment, status, channel, org_cvr,"
                       " unknown_sender, agreement_id, reporter, reporter_email, title,"
                       " description, mail_message_id, created_by, created_at, updated_at)"
                       " VALUES (?, ?, ?, 'new', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, id_out);
    store_bind_cstr(s, 2, incident_type_name(n->type));
    store_bind_cstr(s, 3, environment_name(incident_type_environment(n->type)));
    store_bind_cstr(s, 4, incident_channel_name(n->channel));
    store_bind_cstr(s, 5, n->org_cvr && n->org_cvr[0] ? n->org_cvr : NULL);
    store_bind_int64(s, 6, n->unknown_sender);
    store_bind_cstr(s, 7, n->agreement_id && n->agreement_id[0] ? n->agreement_id : NULL);
    store_bind_cstr(s, 8, n->reporter);
    store_bind_cstr(s, 9, n->reporter_email && n->reporter_email[0] ? n->reporter_email : NULL);
    store_bind_cstr(s, 10, n->title);
    store_bind_cstr(s, 11, n->description);
    store_bind_cstr(s, 12, n->mail_message_id);
    store_bind_cstr(s, 13, n->actor);
    store_bind_int64(s, 14, now);
    store_bind_int64(s, 15, now);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    char text[160];
    snprintf(text, sizeof text, "reported by %s via %s%s", n->reporter,
             incident_channel_name(n->channel), n->unknown_sender ? " (unknown sender)" : "");
    if ((rc = incident_history_add(c, id_out, now, n->actor, "created", NULL, "new", text, err)))
        return rc;
    return queue_receipt(inc, c, id_out, n, now, err);
}

int incident_row_load(store_conn_t *c, str_t id, struct inc_row *row, err_t *err)
{
    if (!incident_id_valid(id))
        return err_param(err, DUPLA_ENOTFOUND, "id", "No incident %.*s.",
                         (int)(id.len > 40 ? 40 : id.len), id.ptr);
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT id, type, status, channel, org_cvr, reporter, reporter_email,"
                           " assignee, title, mail_message_id FROM incident WHERE id = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, id);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        memset(row, 0, sizeof *row);
        str_copy(store_col_text(s, 0), row->id, sizeof row->id);
        char buf[64];
        str_copy(store_col_text(s, 1), buf, sizeof buf);
        row->type = (enum incident_type)incident_type_parse(buf);
        str_copy(store_col_text(s, 2), buf, sizeof buf);
        row->status = (enum incident_status)incident_status_parse(buf);
        str_copy(store_col_text(s, 3), buf, sizeof buf);
        for (int i = 0; i < INCIDENT_CHANNEL_COUNT; i++)
            if (strcmp(buf, incident_channel_name((enum incident_channel)i)) == 0)
                row->channel = (enum incident_channel)i;
        str_copy(store_col_text(s, 4), row->org_cvr, sizeof row->org_cvr);
        str_copy(store_col_text(s, 5), row->reporter, sizeof row->reporter);
        str_copy(store_col_text(s, 6), row->reporter_email, sizeof row->reporter_email);
        str_copy(store_col_text(s, 7), row->assignee, sizeof row->assignee);
        str_copy(store_col_text(s, 8), row->title, sizeof row->title);
        str_copy(store_col_text(s, 9), row->mail_message_id, sizeof row->mail_message_id);
    }
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if (rc != STORE_ROW)
        return err_param(err, DUPLA_ENOTFOUND, "id", "No incident %.*s.", STR_FMT(id));
    return 0;
}

/* May actor see row? Staff see all, members their organisation's. */
bool incident_may_see(const struct incident_actor *a, const struct inc_row *row)
{
    if (a->roles & INCIDENT_ROLE_STAFF)
        return true;
    return (a->roles & INCIDENT_ROLE_MEMBER) && a->org_cvr[0] &&
           strcmp(a->org_cvr, row->org_cvr) == 0;
}
