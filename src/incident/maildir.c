/*
 * maildir.c: mail intake. The mail server delivers the incident mailbox
 * into a maildir; a pickup run takes each file in new/, parses it with
 * GMime, and decides in ONE transaction what becomes of it:
 *
 *  - the subject starts with a trigger (incident_trigger_match): a new
 *    incident of that type, its attachments within the limits, and the
 *    receipt. The sender's address is matched to an organisation through
 *    the org_by_address hook; an unknown sender still makes an incident,
 *    flagged "unknown sender", without organisation, and the receipt goes
 *    to the sender (staff then attach it to an organisation or close it).
 *  - no trigger, but the subject names an open incident (a reply to a
 *    receipt or notice, "Re: Kvittering / Receipt INC-2026-000123") and the
 *    sender is that incident's reporter or of its organisation: the text is
 *    added to the incident's history as a message.
 *  - otherwise: no incident; a reply to the sender listing the valid
 *    triggers, and a forward (the original attached) to the data owner's
 *    general mailbox. Automatic mail (Auto-Submitted, Precedence bulk/junk/
 *    list, mailer-daemon) gets no reply, so two robots cannot loop.
 *
 * Exactly once: the same transaction records the message in incident_mail
 * by its maildir name (the unique part before ':'), with its Message-ID and
 * SHA-256. The file is moved to cur/ only after the commit. A crash before
 * the move leaves the file in new/; the next run finds the name recorded
 * and only moves it. A message delivered twice under two names (same
 * Message-ID and content) is recorded as a duplicate and makes nothing.
 * Several nodes may share one maildir and run pickups at once: the
 * transaction takes the store's write lock before it looks for the name, so
 * one node records a message and the others find it "seen"; a file another
 * node moved away meanwhile is skipped without a warning.
 *
 * Reading one message (GMime) is mailparse.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/log.h"
#include "incident/internal.h"
#include "pki/pki.h"

#define MAILDIR_NAME_MAX 255

const char *incident_mail_outcome_name(enum incident_mail_outcome o)
{
    static const char *const names[] = {"incident",  "no-trigger", "message",
                                        "duplicate", "seen",       "unreadable"};
    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

/* ---- recording ---- */

static int record(store_conn_t *c, const char *name, const struct inc_mail *p, const char *sha,
                  enum incident_mail_outcome o, const char *incident_id, int64_t now, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "INSERT INTO incident_mail (name, message_id, sha256, sender, subject,"
                           " outcome, incident_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           &s, err);
    if (rc)
        return rc;
    char *subj = mail_text_clip(p->subject, strlen(p->subject), INCIDENT_TITLE_MAX);
    store_bind_cstr(s, 1, name);
    store_bind_cstr(s, 2, p->message_id[0] ? p->message_id : NULL);
    store_bind_cstr(s, 3, sha);
    store_bind_cstr(s, 4, p->sender[0] ? p->sender : NULL);
    store_bind_cstr(s, 5, subj);
    store_bind_cstr(s, 6, incident_mail_outcome_name(o));
    store_bind_cstr(s, 7, incident_id && incident_id[0] ? incident_id : NULL);
    store_bind_int64(s, 8, now);
    rc = store_step(s, err);
    store_stmt_done(s);
    free(subj);
    return rc < 0 ? rc : 0;
}

static int save_attachments(store_conn_t *c, const char *id, const struct inc_mail *p, err_t *err)
{
    for (size_t i = 0; i < p->n_att; i++) {
        const struct inc_attachment *a = &p->att[i];
        store_stmt_t *s;
        int rc = store_prepare(c,
                               "INSERT INTO incident_attachment (incident_id, name, content_type,"
                               " size, data, dropped_reason) VALUES (?, ?, ?, ?, ?, ?)",
                               &s, err);
        if (rc)
            return rc;
        store_bind_cstr(s, 1, id);
        store_bind_cstr(s, 2, a->name);
        store_bind_cstr(s, 3, a->content_type);
        store_bind_int64(s, 4, (int64_t)a->size);
        if (a->data)
            store_bind_blob(s, 5, a->data->data, a->data->len);
        else
            store_bind_null(s, 5);
        store_bind_cstr(s, 6, a->dropped);
        rc = store_step(s, err);
        store_stmt_done(s);
        if (rc < 0)
            return rc;
        if (a->dropped)
            log_info("incident %s: attachment %zu (%zu bytes) dropped: %s", id, i + 1, a->size,
                     a->dropped);
    }
    if (p->n_unrecorded)
        log_info("incident %s: %zu more attachments dropped unrecorded (more than %d parts)", id,
                 p->n_unrecorded, INCIDENT_PARTS_RECORDED_MAX);
    return 0;
}

/* The address a reply to this message goes to, or "" (automatic mail). */
static const char *reply_address(const struct inc_mail *p)
{
    if (p->automatic)
        return "";
    return p->reply_to[0] ? p->reply_to : p->sender;
}

static int make_incident(struct incident *inc, store_conn_t *c, const struct inc_mail *p, int type,
                         str_t rest, bool truncated, int64_t now, char *id_out, err_t *err)
{
    char cvr[INCIDENT_CVR_MAX] = "";
    bool unknown = true;
    if (p->sender[0] && inc->hooks.org_by_address) {
        int found = inc->hooks.org_by_address(inc->hooks.ctx, p->sender, cvr);
        if (found < 0)
            return err_internal(err, DUPLA_EIO, "the sender lookup failed");
        unknown = found != 1;
        if (unknown)
            cvr[0] = '\0';
    }
    char *title = mail_text_clip(rest.ptr, rest.len, INCIDENT_TITLE_MAX);
    buf_t desc;
    buf_init(&desc, INCIDENT_DESCRIPTION_MAX + 512);
    buf_append_cstr(&desc, p->body);
    if (truncated)
        buf_printf(&desc, "\n\n[The message was larger than %zu bytes and was cut there.]",
                   inc->set.message_max_bytes);
    char reporter[INCIDENT_ADDRESS_MAX + 1];
    snprintf(reporter, sizeof reporter, "%s",
             p->sender_name[0] ? p->sender_name
             : p->sender[0]    ? p->sender
                               : "(no sender)");
    const char *fallback = reply_address(p);
    struct inc_new n = {.type = (enum incident_type)type,
                        .channel = INCIDENT_MAIL,
                        .org_cvr = cvr,
                        .unknown_sender = unknown,
                        .reporter = reporter,
                        /* notices go to whoever wrote, unless it was a robot */
                        .reporter_email = fallback[0] ? fallback : NULL,
                        .title = title && title[0] ? title : "(uden emne / no subject)",
                        .description = desc.data ? desc.data : "",
                        .actor = "mail",
                        .mail_message_id = p->message_id[0] ? p->message_id : NULL};
    int rc = title ? incident_insert(inc, c, &n, now, id_out, err)
                   : err_set(err, DUPLA_ENOMEM, "out of memory");
    if (rc == 0)
        rc = save_attachments(c, id_out, p, err);
    free(title);
    buf_free(&desc);
    return rc;
}

/* A reply to an open incident: 1 if taken as a message, 0 if not. */
static int try_message(struct incident *inc, store_conn_t *c, const struct inc_mail *p, int64_t now,
                       char *id_out, err_t *err)
{
    char id[INCIDENT_ID_LEN + 1];
    if (!p->sender[0] || !incident_id_find(str_from_cstr(p->subject), id))
        return 0;
    struct inc_row row;
    err_t e2;
    if (incident_row_load(c, str_from_cstr(id), &row, &e2) != 0 || row.status == INCIDENT_CLOSED)
        return 0;
    bool same = strcasecmp(row.reporter_email, p->sender) == 0;
    if (!same && row.org_cvr[0] && inc->hooks.org_by_address) {
        char cvr[INCIDENT_CVR_MAX] = "";
        same = inc->hooks.org_by_address(inc->hooks.ctx, p->sender, cvr) == 1 &&
               strcmp(cvr, row.org_cvr) == 0;
    }
    if (!same)
        return 0;
    char who[INCIDENT_ADDRESS_MAX + 16];
    snprintf(who, sizeof who, "mail:%s", p->sender);
    int rc = incident_history_add(c, row.id, now, who, "message-in", NULL, NULL, p->body, err);
    if (rc == 0 && row.status == INCIDENT_WAITING)
        rc = incident_history_add(c, row.id, now, who, "status", "waiting-for-reporter",
                                  "in-progress", "the reporter answered", err);
    if (rc == 0) {
        store_stmt_t *s;
        rc = store_prepare(c,
                           "UPDATE incident SET updated_at = ?, status = CASE WHEN status ="
                           " 'waiting-for-reporter' THEN 'in-progress' ELSE status END"
                           " WHERE id = ?",
                           &s, err);
        if (rc == 0) {
            store_bind_int64(s, 1, now);
            store_bind_cstr(s, 2, row.id);
            rc = store_step(s, err);
            store_stmt_done(s);
            rc = rc < 0 ? rc : 0;
        }
    }
    if (rc)
        return rc;
    snprintf(id_out, INCIDENT_ID_LEN + 1, "%s", row.id);
    return 1;
}

static int no_trigger(struct incident *inc, store_conn_t *c, const char *name,
                      const struct inc_mail *p, str_t raw, int64_t now, err_t *err)
{
    char source[MAILDIR_NAME_MAX + 32];
    int rc = 0;
    const char *to = reply_address(p);
    if (to[0]) {
        char *subj = mail_text_clip(p->subject, strlen(p->subject), 200);
        char subject[MAIL_SUBJECT_MAX];
        snprintf(subject, sizeof subject, "Ingen sag oprettet / No incident opened: %s",
                 subj ? subj : "");
        free(subj);
        buf_t body;
        buf_init(&body, MAIL_BODY_MAX);
        buf_printf(&body,
                   "Din mail er ikke oprettet som en hændelse, fordi emnefeltet ikke begynder "
                   "med et gyldigt nøgleord.\n"
                   "Your mail did not open an incident because its subject does not start "
                   "with a valid trigger.\n\n"
                   "Gyldige nøgleord / Valid triggers:\n"
                   "  DUPLA-Prod-Data    fejl i data i produktion / data in production\n"
                   "  DUPLA-Prod-Aftale  aftale eller adgang i produktion / agreement or access "
                   "in production\n"
                   "  DUPLA-TFE          testmiljøet (TFE) / the test environment\n\n"
                   "Eksempel / Example: \"DUPLA-Prod-Data: Manglende felt i Momsangivelse\"\n\n");
        if (inc->set.general_mailbox[0])
            buf_printf(&body,
                       "Din mail er videresendt til %s, som besvarer andre spørgsmål.\n"
                       "Your mail has been forwarded to %s, who answer other questions.\n",
                       inc->set.general_mailbox, inc->set.general_mailbox);
        snprintf(source, sizeof source, "no-trigger:%s", name);
        struct mail_message m = {.kind = "no-trigger",
                                 .to = to,
                                 .subject = subject,
                                 .body = body.data ? body.data : "",
                                 .in_reply_to = p->message_id[0] ? p->message_id : NULL,
                                 .source = source};
        rc =
            body.data ? mail_enqueue(c, &m, now, err) : err_set(err, DUPLA_ENOMEM, "out of memory");
        buf_free(&body);
    }
    if (rc == 0 && inc->set.general_mailbox[0]) {
        char *subj = mail_text_clip(p->subject, strlen(p->subject), 200);
        char subject[MAIL_SUBJECT_MAX];
        snprintf(subject, sizeof subject, "Fwd: %s", subj ? subj : "");
        free(subj);
        char body[600];
        snprintf(body, sizeof body,
                 "Videresendt af DUPLA's hændelsespostkasse: emnet begynder ikke med et "
                 "nøgleord.\nForwarded by the DUPLA incident mailbox: the subject does not "
                 "start with a trigger.\n\nAfsender / Sender: %s\n",
                 p->sender[0] ? p->sender : "(none)");
        snprintf(source, sizeof source, "forward:%s", name);
        struct mail_message m = {.kind = "forward",
                                 .to = inc->set.general_mailbox,
                                 .subject = subject,
                                 .body = body,
                                 .source = source,
                                 .attachment = raw};
        rc = mail_enqueue(c, &m, now, err);
    }
    return rc;
}

/* 1 (outcome set) if name was recorded before, 0 if not. */
static int seen_before(store_conn_t *c, const char *name, char *id_out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT incident_id FROM incident_mail WHERE name = ?", &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, name);
    rc = store_step(s, err);
    if (rc == STORE_ROW && id_out)
        str_copy(store_col_text(s, 0), id_out, INCIDENT_ID_LEN + 1);
    store_stmt_done(s);
    return rc < 0 ? rc : rc == STORE_ROW;
}

static int duplicate_of(store_conn_t *c, const char *message_id, const char *sha, char *id_out,
                        err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT incident_id FROM incident_mail WHERE message_id = ? AND"
                           " sha256 = ? ORDER BY received_at LIMIT 1",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, message_id);
    store_bind_cstr(s, 2, sha);
    rc = store_step(s, err);
    if (rc == STORE_ROW && id_out)
        str_copy(store_col_text(s, 0), id_out, INCIDENT_ID_LEN + 1);
    store_stmt_done(s);
    return rc < 0 ? rc : rc == STORE_ROW;
}

int incident_mail_accept(incident_t *inc, const char *name, str_t raw, bool truncated,
                         enum incident_mail_outcome *outcome, char *id_out, err_t *err)
{
    char idbuf[INCIDENT_ID_LEN + 1] = "";
    if (!id_out)
        id_out = idbuf;
    id_out[0] = '\0';
    if (!name || !*name || strlen(name) > MAILDIR_NAME_MAX || strchr(name, '/'))
        return err_param(err, DUPLA_EINVAL, "name", "Not a maildir file name.");
    char sha[PKI_SHA256_HEX];
    pki_sha256_hex(raw.ptr, raw.len, sha);
    struct inc_mail p;
    int rc = incident_mail_parse(inc, raw, &p, err);
    if (rc) {
        incident_mail_free(&p);
        return rc;
    }
    store_conn_t *c;
    if ((rc = store_conn_get(inc->st, &c, err))) {
        incident_mail_free(&p);
        return rc;
    }
    int64_t now = clock_now_ms();
    enum incident_mail_outcome o = INCIDENT_MAIL_SEEN;
    if ((rc = store_begin(c, err)))
        goto out;
    if ((rc = seen_before(c, name, id_out, err)) != 0) {
        if (rc == 1)
            rc = 0, o = INCIDENT_MAIL_SEEN;
        goto out;
    }
    if (p.message_id[0] && (rc = duplicate_of(c, p.message_id, sha, id_out, err)) != 0) {
        if (rc == 1 &&
            (rc = record(c, name, &p, sha, INCIDENT_MAIL_DUPLICATE, id_out, now, err)) == 0)
            o = INCIDENT_MAIL_DUPLICATE;
        goto out;
    }
    str_t rest;
    int type = p.msg ? incident_trigger_match(str_from_cstr(p.subject), &rest) : -1;
    if (!p.msg) {
        o = INCIDENT_MAIL_UNREADABLE;
        if (inc->set.general_mailbox[0]) {
            char source[MAILDIR_NAME_MAX + 32];
            snprintf(source, sizeof source, "forward:%s", name);
            struct mail_message m = {
                .kind = "forward",
                .to = inc->set.general_mailbox,
                .subject = "Fwd: ulæselig mail / unreadable mail",
                .body = "DUPLA's hændelsespostkasse kunne ikke læse den vedlagte mail.\n"
                        "The DUPLA incident mailbox could not read the attached mail.\n",
                .source = source,
                .attachment = raw};
            rc = mail_enqueue(c, &m, now, err);
        }
    } else if (type >= 0) {
        o = INCIDENT_MAIL_INCIDENT;
        rc = make_incident(inc, c, &p, type, rest, truncated, now, id_out, err);
    } else {
        rc = try_message(inc, c, &p, now, id_out, err);
        if (rc == 1) {
            o = INCIDENT_MAIL_MESSAGE;
            rc = 0;
        } else if (rc == 0) {
            o = INCIDENT_MAIL_NO_TRIGGER;
            rc = no_trigger(inc, c, name, &p, raw, now, err);
        }
    }
    if (rc == 0)
        rc = record(c, name, &p, sha, o, id_out, now, err);
out:
    if (rc == 0)
        rc = store_commit(c, err);
    if (rc)
        store_rollback(c);
    store_conn_put(c);
    incident_mail_free(&p);
    if (rc == 0 && outcome)
        *outcome = o;
    return rc;
}

/* ---- the maildir ---- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads at most max bytes of dir/name into a malloc'd buffer. */
static int read_file(int dirfd, const char *name, size_t max, char **out, size_t *len,
                     bool *truncated, err_t *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return DUPLA_ENOTFOUND; /* taken in meanwhile by another node's run */
    if (fd < 0)
        return err_internal(err, DUPLA_EIO, "open %s: %s", name, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return err_internal(err, DUPLA_EIO, "%s is not a regular file", name);
    }
    size_t want = (size_t)sb.st_size > max ? max : (size_t)sb.st_size;
    char *b = malloc(want + 1);
    if (!b) {
        close(fd);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, b + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *out = b;
    *len = got;
    *truncated = (size_t)sb.st_size > max;
    return 0;
}

int incident_maildir_pickup(incident_t *inc, const char *maildir,
                            struct incident_pickup_stats *stats, err_t *err)
{
    struct incident_pickup_stats st = {0};
    char newp[CONFIG_PATH_MAX + 8], curp[CONFIG_PATH_MAX + 8];
    if (snprintf(newp, sizeof newp, "%s/new", maildir) >= (int)sizeof newp ||
        snprintf(curp, sizeof curp, "%s/cur", maildir) >= (int)sizeof curp)
        return err_param(err, DUPLA_EINVAL, "maildir", "The maildir path is too long.");
    DIR *d = opendir(newp);
    if (!d)
        return err_param(err, DUPLA_EIO, "maildir", "Cannot open %s: %s", newp, strerror(errno));
    int curfd = open(curp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (curfd < 0) {
        closedir(d);
        return err_param(err, DUPLA_EIO, "maildir", "Cannot open %s: %s", curp, strerror(errno));
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && n < INCIDENT_PICKUP_BATCH) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn || !(nn[n] = strdup(e->d_name))) {
            names = nn ? nn : names;
            rc = err_set(err, DUPLA_ENOMEM, "out of memory");
            break;
        }
        names = nn;
        n++;
    }
    int newfd = dirfd(d);
    if (names)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *fname = names[i];
        char uniq[MAILDIR_NAME_MAX + 1];
        snprintf(uniq, sizeof uniq, "%.*s", (int)strcspn(fname, ":"), fname);
        char *raw = NULL;
        size_t len = 0;
        bool truncated = false;
        err_t e1;
        err_clear(&e1);
        enum incident_mail_outcome o;
        st.taken++;
        int r = read_file(newfd, fname, inc->set.message_max_bytes, &raw, &len, &truncated, &e1);
        if (r == DUPLA_ENOTFOUND) {
            st.taken--;
            continue;
        }
        if (r == 0)
            r = incident_mail_accept(inc, uniq, (str_t){raw, len}, truncated, &o, NULL, &e1);
        free(raw);
        if (r != 0) {
            log_warn("maildir %s: %s (left in new/)", fname, e1.log[0] ? e1.log : e1.detail);
            st.failed++;
            if (r == DUPLA_ENOMEM || r == DUPLA_ESTORE || r == DUPLA_EBUSY) {
                *err = e1;
                rc = r; /* the store is unwell: stop the run */
            }
            continue;
        }
        switch (o) {
        case INCIDENT_MAIL_INCIDENT:
            st.incidents++;
            break;
        case INCIDENT_MAIL_NO_TRIGGER:
            st.no_trigger++;
            break;
        case INCIDENT_MAIL_MESSAGE:
            st.messages++;
            break;
        case INCIDENT_MAIL_DUPLICATE:
            st.duplicates++;
            break;
        case INCIDENT_MAIL_SEEN:
            st.seen++;
            break;
        case INCIDENT_MAIL_UNREADABLE:
            st.unreadable++;
            break;
        }
        /* Committed: now, and only now, the file moves to cur/. */
        char dest[MAILDIR_NAME_MAX + 8];
        snprintf(dest, sizeof dest, "%s:2,S", uniq);
        /* ENOENT: another node that shares the maildir took it in and
         * moved it first (this run found it recorded: "seen") */
        if (renameat(newfd, fname, curfd, dest) != 0 && errno != ENOENT)
            log_warn("maildir %s: cannot move to cur/: %s (it will be seen again and only moved)",
                     fname, strerror(errno));
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    close(curfd);
    closedir(d);
    if (stats)
        *stats = st;
    return rc;
}
