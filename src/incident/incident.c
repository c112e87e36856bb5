/*
 * incident.c: the incident itself: settings, opening the module, making an
 * incident with its receipt, the status transition table, assigning,
 * messages, and reading incidents back as JSON.
 *
 * Every change is one transaction holding the change, its history row and
 * the mail it causes (queued in mail_outbox), so a mail exists exactly when
 * its change happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/ident.h"
#include "core/log.h"
#include "incident/internal.h"

/*
 * The transition table. Staff may take an incident on, ask the reporter,
 * resolve or close it from any open status; a resolved incident can be
 * reopened (back in progress) or closed; closed is final (a new report
 * makes a new incident).
 */
static const bool transitions[INCIDENT_STATUS_COUNT][INCIDENT_STATUS_COUNT] = {
    [INCIDENT_NEW] = {[INCIDENT_IN_PROGRESS] = true,
                      [INCIDENT_WAITING] = true,
                      [INCIDENT_RESOLVED] = true,
                      [INCIDENT_CLOSED] = true},
    [INCIDENT_IN_PROGRESS] =
        {[INCIDENT_WAITING] = true, [INCIDENT_RESOLVED] = true, [INCIDENT_CLOSED] = true},
    [INCIDENT_WAITING] =
        {[INCIDENT_IN_PROGRESS] = true, [INCIDENT_RESOLVED] = true, [INCIDENT_CLOSED] = true},
    [INCIDENT_RESOLVED] = {[INCIDENT_IN_PROGRESS] = true, [INCIDENT_CLOSED] = true},
    [INCIDENT_CLOSED] = {0},
};

bool incident_transition_allowed(enum incident_status from, enum incident_status to)
{
    if ((unsigned)from >= INCIDENT_STATUS_COUNT || (unsigned)to >= INCIDENT_STATUS_COUNT)
        return false;
    return transitions[from][to];
}

/* Danish and English words for the notices. */
static const char *const status_da[INCIDENT_STATUS_COUNT] = {
    "ny", "under behandling", "afventer svar fra dig", "løst", "lukket"};
static const char *const status_en[INCIDENT_STATUS_COUNT] = {
    "new", "in progress", "waiting for your answer", "resolved", "closed"};

/* ---- settings ---- */

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
    if (s->general_mailbox[0] && !inc_address_valid(s->general_mailbox))
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
    if (!inc_address_valid(s->from))
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

/* ---- the module ---- */

int incident_open(store_t *st, const struct incident_hooks *hooks,
                  const struct incident_settings *settings, incident_t **out, err_t *err)
{
    int rc = inc_schema_migrate(st, err);
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
    inc_gmime_once();
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

void inc_actor_label(const struct incident_actor *a, char *out, size_t cap)
{
    if (a->user_id > 0)
        snprintf(out, cap, "user:%lld (%s)", (long long)a->user_id, a->name);
    else
        snprintf(out, cap, "%s", a->name[0] ? a->name : "unknown");
}

void inc_receipt_recipient(struct incident *inc, const char *org_cvr, const char *fallback,
                           char *out, size_t cap)
{
    out[0] = '\0';
    if (org_cvr && org_cvr[0] && inc->hooks.org_mailbox &&
        inc->hooks.org_mailbox(inc->hooks.ctx, org_cvr, out, cap) == 0 && inc_address_valid(out))
        return;
    snprintf(out, cap, "%s", fallback && inc_address_valid(fallback) ? fallback : "");
}

int inc_history_add(store_conn_t *c, const char *incident_id, int64_t now, const char *actor,
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
    inc_receipt_recipient(inc, n->org_cvr, n->reporter_email, to, sizeof to);
    if (!to[0]) {
        log_warn("incident %s: no mailbox for the receipt", id);
        return 0;
    }
    const char *cc = NULL;
    if (n->reporter_email && inc_address_valid(n->reporter_email) &&
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
                             .incident_id = id};
    int rc =
        body.data ? mail_queue(inc, c, &m, now, err) : err_set(err, DUPLA_ENOMEM, "out of memory");
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
    if ((rc = inc_history_add(c, id_out, now, n->actor, "created", NULL, "new", text, err)))
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
static bool may_see(const struct incident_actor *a, const struct inc_row *row)
{
    if (a->roles & INCIDENT_ROLE_STAFF)
        return true;
    return (a->roles & INCIDENT_ROLE_MEMBER) && a->org_cvr[0] &&
           strcmp(a->org_cvr, row->org_cvr) == 0;
}

/* Sets one column (status or assignee) and updated_at. The SQL texts are
 * literals: the store's statement cache looks statements up by the SQL
 * pointer first, so SQL built in a reused buffer would find the wrong one. */
static int touch(store_conn_t *c, const char *id, bool assignee, const char *value, int64_t now,
                 err_t *err)
{
    static const char *const sql_status =
        "UPDATE incident SET status = ?, updated_at = ? WHERE id = ?";
    static const char *const sql_assignee =
        "UPDATE incident SET assignee = ?, updated_at = ? WHERE id = ?";
    store_stmt_t *s;
    int rc = store_prepare(c, assignee ? sql_assignee : sql_status, &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, value);
    store_bind_int64(s, 2, now);
    store_bind_cstr(s, 3, id);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* Queues a notice about row to its reporter (or the organisation). */
static int queue_notice(struct incident *inc, store_conn_t *c, const struct inc_row *row,
                        const char *kind, const char *subject, const char *body, int64_t now,
                        err_t *err)
{
    char to[INCIDENT_ADDRESS_MAX + 1];
    if (inc_address_valid(row->reporter_email))
        snprintf(to, sizeof to, "%s", row->reporter_email);
    else
        inc_receipt_recipient(inc, row->org_cvr, NULL, to, sizeof to);
    if (!to[0]) {
        log_warn("incident %s: nobody to tell of the %s", row->id, kind);
        return 0;
    }
    struct mail_message m = {.kind = kind,
                             .to = to,
                             .subject = subject,
                             .body = body,
                             .in_reply_to = row->mail_message_id[0] ? row->mail_message_id : NULL,
                             .incident_id = row->id};
    return mail_queue(inc, c, &m, now, err);
}

/* Runs fn on a loaded row inside one transaction. */
typedef int (*row_step_fn)(struct incident *inc, store_conn_t *c, struct inc_row *row,
                           const void *arg, int64_t now, err_t *err);

static int with_row(struct incident *inc, str_t id, row_step_fn fn, const void *arg, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(inc->st, &c, err);
    if (rc)
        return rc;
    struct inc_row row;
    if ((rc = store_begin(c, err)) == 0 && (rc = incident_row_load(c, id, &row, err)) == 0 &&
        (rc = fn(inc, c, &row, arg, clock_now_ms(), err)) == 0)
        rc = store_commit(c, err);
    if (rc)
        store_rollback(c);
    store_conn_put(c);
    return rc;
}

struct status_arg {
    const struct incident_actor *actor;
    enum incident_status to;
    const char *note;
};

static int status_step(struct incident *inc, store_conn_t *c, struct inc_row *row, const void *argp,
                       int64_t now, err_t *err)
{
    const struct status_arg *a = argp;
    if (!incident_transition_allowed(row->status, a->to))
        return err_param(err, DUPLA_ECONFLICT, "status", "Incident %s is %s; it cannot become %s.",
                         row->id, incident_status_name(row->status), incident_status_name(a->to));
    char who[INCIDENT_NAME_MAX + 32];
    inc_actor_label(a->actor, who, sizeof who);
    int rc = touch(c, row->id, false, incident_status_name(a->to), now, err);
    if (rc == 0)
        rc = inc_history_add(c, row->id, now, who, "status", incident_status_name(row->status),
                             incident_status_name(a->to), a->note, err);
    if (rc)
        return rc;
    char subject[MAIL_SUBJECT_MAX];
    snprintf(subject, sizeof subject, "%s: %s / %s: %.200s", row->id, status_da[a->to],
             status_en[a->to], row->title);
    buf_t body;
    buf_init(&body, MAIL_BODY_MAX);
    buf_printf(&body,
               "Hændelsen %s (\"%s\") har skiftet status fra \"%s\" til \"%s\".\n"
               "Incident %s (\"%s\") has changed status from \"%s\" to \"%s\".\n",
               row->id, row->title, status_da[row->status], status_da[a->to], row->id, row->title,
               status_en[row->status], status_en[a->to]);
    if (a->note && *a->note)
        buf_printf(&body, "\nBemærkning / Note:\n%s\n", a->note);
    if (a->to == INCIDENT_WAITING)
        buf_printf(&body,
                   "\nSvar venligst på denne mail med %s i emnefeltet.\n"
                   "Please answer this mail, keeping %s in the subject.\n",
                   row->id, row->id);
    rc = body.data ? queue_notice(inc, c, row, "status", subject, body.data, now, err)
                   : err_set(err, DUPLA_ENOMEM, "out of memory");
    buf_free(&body);
    return rc;
}

static int need_staff(const struct incident_actor *a, err_t *err)
{
    if (!(a->roles & INCIDENT_ROLE_STAFF))
        return err_set(err, DUPLA_EFORBIDDEN, "Only the data owner's staff may do this.");
    return 0;
}

int incident_set_status(incident_t *inc, const struct incident_actor *actor, str_t id,
                        enum incident_status to, const char *note, err_t *err)
{
    int rc = need_staff(actor, err);
    if (rc)
        return rc;
    if ((unsigned)to >= INCIDENT_STATUS_COUNT)
        return err_param(err, DUPLA_EINVAL, "status", "No such status.");
    char *clean = NULL;
    if (note) {
        if (!(clean = inc_text_clip(note, strlen(note), INCIDENT_MESSAGE_MAX)))
            return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    struct status_arg a = {actor, to, clean};
    rc = with_row(inc, id, status_step, &a, err);
    free(clean);
    return rc;
}

struct assign_arg {
    const struct incident_actor *actor;
    const char *assignee;
};

static int assign_step(struct incident *inc, store_conn_t *c, struct inc_row *row, const void *argp,
                       int64_t now, err_t *err)
{
    (void)inc;
    const struct assign_arg *a = argp;
    char who[INCIDENT_NAME_MAX + 32];
    inc_actor_label(a->actor, who, sizeof who);
    int rc = touch(c, row->id, true, a->assignee[0] ? a->assignee : NULL, now, err);
    if (rc == 0) {
        char text[INCIDENT_NAME_MAX * 2 + 32];
        snprintf(text, sizeof text, "%s -> %s", row->assignee[0] ? row->assignee : "(nobody)",
                 a->assignee[0] ? a->assignee : "(nobody)");
        rc = inc_history_add(c, row->id, now, who, "assign", NULL, NULL, text, err);
    }
    return rc;
}

int incident_assign(incident_t *inc, const struct incident_actor *actor, str_t id,
                    const char *assignee, err_t *err)
{
    int rc = need_staff(actor, err);
    if (rc)
        return rc;
    if (!assignee)
        assignee = "";
    size_t n = strlen(assignee);
    if (n >= INCIDENT_NAME_MAX)
        return err_param(err, DUPLA_EINVAL, "assignee", "The assignee is too long (at most %d).",
                         INCIDENT_NAME_MAX - 1);
    char *clean = inc_text_clip(assignee, n, INCIDENT_NAME_MAX - 1);
    if (!clean)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    struct assign_arg a = {actor, clean};
    rc = with_row(inc, id, assign_step, &a, err);
    free(clean);
    return rc;
}

struct message_arg {
    const struct incident_actor *actor;
    const char *text;
    bool to_reporter;
};

static int message_step(struct incident *inc, store_conn_t *c, struct inc_row *row,
                        const void *argp, int64_t now, err_t *err)
{
    const struct message_arg *a = argp;
    bool staff = (a->actor->roles & INCIDENT_ROLE_STAFF) != 0;
    if (!may_see(a->actor, row))
        return err_param(err, DUPLA_ENOTFOUND, "id", "No incident %s.", row->id);
    if (row->status == INCIDENT_CLOSED)
        return err_set(err, DUPLA_ECONFLICT, "Incident %s is closed; report a new one.", row->id);
    char who[INCIDENT_NAME_MAX + 32];
    inc_actor_label(a->actor, who, sizeof who);
    const char *kind = staff ? (a->to_reporter ? "message-out" : "note") : "message-in";
    int rc = inc_history_add(c, row->id, now, who, kind, NULL, NULL, a->text, err);
    if (rc == 0 && !staff && row->status == INCIDENT_WAITING) {
        rc = touch(c, row->id, false, "in-progress", now, err);
        if (rc == 0)
            rc = inc_history_add(c, row->id, now, who, "status", "waiting-for-reporter",
                                 "in-progress", "the reporter answered", err);
    } else if (rc == 0) {
        rc = touch(c, row->id, false, incident_status_name(row->status), now, err);
    }
    if (rc == 0 && staff && a->to_reporter) {
        char subject[MAIL_SUBJECT_MAX];
        snprintf(subject, sizeof subject, "%s: Besked / Message: %.200s", row->id, row->title);
        rc = queue_notice(inc, c, row, "message", subject, a->text, now, err);
    }
    return rc;
}

int incident_add_message(incident_t *inc, const struct incident_actor *actor, str_t id,
                         const char *text, bool to_reporter, err_t *err)
{
    if (!(actor->roles & (INCIDENT_ROLE_STAFF | INCIDENT_ROLE_MEMBER)))
        return err_set(err, DUPLA_EFORBIDDEN, "You may not write on incidents.");
    if (!text || !*text)
        return err_param(err, DUPLA_EINVAL, "text", "The message is empty.");
    size_t n = strlen(text);
    if (n > INCIDENT_MESSAGE_MAX)
        return err_param(err, DUPLA_ELIMIT, "text", "The message is too long (at most %d bytes).",
                         INCIDENT_MESSAGE_MAX);
    char *clean = inc_text_clip(text, n, INCIDENT_MESSAGE_MAX);
    if (!clean)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    struct message_arg a = {actor, clean, to_reporter};
    int rc = with_row(inc, id, message_step, &a, err);
    free(clean);
    return rc;
}

/* ---- reading ---- */

static json_t *jtext(store_stmt_t *s, int col)
{
    if (store_col_is_null(s, col))
        return json_null();
    str_t t = store_col_text(s, col);
    json_t *j = json_stringn(t.ptr, t.len);
    return j ? j : json_string("");
}

static json_t *jtime(int64_t ms)
{
    char t[32];
    clock_format_s(ms, t, sizeof t);
    return json_string(t);
}

#define SUMMARY_COLS                                                                               \
    "id, type, environment, status, channel, org_cvr, unknown_sender, agreement_id, reporter,"     \
    " assignee, title, created_at, updated_at"

static json_t *summary_json(store_stmt_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jtext(s, 0));
    json_object_set_new(o, "type", jtext(s, 1));
    json_object_set_new(o, "environment", jtext(s, 2));
    json_object_set_new(o, "status", jtext(s, 3));
    json_object_set_new(o, "channel", jtext(s, 4));
    json_object_set_new(o, "organisation_cvr", jtext(s, 5));
    json_object_set_new(o, "unknown_sender", json_boolean(store_col_int64(s, 6)));
    json_object_set_new(o, "agreement_id", jtext(s, 7));
    json_object_set_new(o, "reporter", jtext(s, 8));
    json_object_set_new(o, "assignee", jtext(s, 9));
    json_object_set_new(o, "title", jtext(s, 10));
    json_object_set_new(o, "created_at", jtime(store_col_int64(s, 11)));
    json_object_set_new(o, "updated_at", jtime(store_col_int64(s, 12)));
    return o;
}

int incident_get_json(incident_t *inc, const struct incident_actor *actor, str_t id, json_t **out,
                      err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(inc->st, &c, err);
    if (rc)
        return rc;
    struct inc_row row;
    json_t *o = NULL;
    store_stmt_t *s;
    bool staff = (actor->roles & INCIDENT_ROLE_STAFF) != 0;
    if ((rc = incident_row_load(c, id, &row, err)))
        goto out;
    if (!may_see(actor, &row)) {
        rc = err_param(err, DUPLA_ENOTFOUND, "id", "No incident %s.", row.id);
        goto out;
    }
    if ((rc = store_prepare(c,
                            "SELECT " SUMMARY_COLS ", reporter_email, description FROM incident"
                            " WHERE id = ?",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, row.id);
    if ((rc = store_step(s, err)) == STORE_ROW) {
        o = summary_json(s);
        json_object_set_new(o, "reporter_email", jtext(s, 13));
        json_object_set_new(o, "description", jtext(s, 14));
    }
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    json_t *hist = json_array();
    json_object_set_new(o, "history", hist);
    if ((rc = store_prepare(c,
                            "SELECT at, actor, kind, from_status, to_status, text FROM"
                            " incident_history WHERE incident_id = ? ORDER BY id",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, row.id);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        str_t kind = store_col_text(s, 2);
        if (!staff && str_eq_cstr(kind, "note"))
            continue; /* staff's internal notes */
        json_t *h = json_object();
        json_object_set_new(h, "at", jtime(store_col_int64(s, 0)));
        json_object_set_new(h, "actor", jtext(s, 1));
        json_object_set_new(h, "kind", jtext(s, 2));
        json_object_set_new(h, "from_status", jtext(s, 3));
        json_object_set_new(h, "to_status", jtext(s, 4));
        json_object_set_new(h, "text", jtext(s, 5));
        json_array_append_new(hist, h);
    }
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    json_t *att = json_array();
    json_object_set_new(o, "attachments", att);
    if ((rc = store_prepare(c,
                            "SELECT name, content_type, size, dropped_reason FROM"
                            " incident_attachment WHERE incident_id = ? ORDER BY id",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, row.id);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        json_t *a = json_object();
        json_object_set_new(a, "name", jtext(s, 0));
        json_object_set_new(a, "content_type", jtext(s, 1));
        json_object_set_new(a, "size", json_integer(store_col_int64(s, 2)));
        json_object_set_new(a, "kept", json_boolean(store_col_is_null(s, 3)));
        json_object_set_new(a, "dropped_reason", jtext(s, 3));
        json_array_append_new(att, a);
    }
    store_stmt_done(s);
    rc = rc < 0 ? rc : 0;
out:
    store_conn_put(c);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

int incident_list_json(incident_t *inc, const struct incident_actor *actor,
                       const struct incident_filter *f, json_t **out, err_t *err)
{
    bool staff = (actor->roles & INCIDENT_ROLE_STAFF) != 0;
    const char *org = f ? f->org_cvr : NULL;
    if (!staff) {
        if (!(actor->roles & INCIDENT_ROLE_MEMBER) || !actor->org_cvr[0])
            return err_set(err, DUPLA_EFORBIDDEN, "You may not list incidents.");
        if (org && strcmp(org, actor->org_cvr) != 0)
            return err_param(err, DUPLA_EFORBIDDEN, "org",
                             "You see only your own organisation's incidents.");
        org = actor->org_cvr;
    }
    int status = f ? f->status : -1;
    const char *assignee = f ? f->assignee : NULL;
    store_conn_t *c;
    int rc = store_conn_get(inc->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc =
        store_prepare(c,
                      "SELECT " SUMMARY_COLS " FROM incident WHERE (? IS NULL OR org_cvr = ?)"
                      " AND (? IS NULL OR status = ?) AND (? IS NULL OR COALESCE(assignee, '') = ?)"
                      " ORDER BY created_at DESC, id DESC LIMIT ?",
                      &s, err);
    if (rc == 0) {
        const char *st = status >= 0 ? incident_status_name((enum incident_status)status) : NULL;
        store_bind_cstr(s, 1, org);
        store_bind_cstr(s, 2, org);
        store_bind_cstr(s, 3, st);
        store_bind_cstr(s, 4, st);
        store_bind_cstr(s, 5, assignee);
        store_bind_cstr(s, 6, assignee);
        store_bind_int64(s, 7, INCIDENT_LIST_MAX);
        json_t *list = json_array();
        while ((rc = store_step(s, err)) == STORE_ROW)
            json_array_append_new(list, summary_json(s));
        store_stmt_done(s);
        if (rc < 0)
            json_decref(list);
        else
            *out = list, rc = 0;
    }
    store_conn_put(c);
    return rc;
}
