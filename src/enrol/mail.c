/*
 * mail.c: the mail a decision on an application sends, queued with
 * mail_enqueue inside the decision's transaction (kind "enrol-approved",
 * "enrol-rejected", referring to the application's id, queued once per
 * application and kind by its source key).
 *
 * Approval: to the administrator, the set-up link (the /opsaetning page
 * with the username filled in) and, on a line of its own, the one-time
 * secret; the secret is not put in the link, so that it reaches no request
 * log. The organisation's contact mailbox gets a copy without the secret.
 * Rejection: the reason, to the administrator with the contact mailbox in
 * copy. Texts in Danish with English alongside.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/rand.h"
#include "enrol/internal.h"
#include "mail/mail.h"

#define ENROL_MAIL_BODY_MAX (ENROL_REASON_MAX + 4096)

static int queue(store_conn_t *c, const struct enrol_application *a, const char *kind,
                 const char *to, const char *cc, const char *subject, const char *body,
                 int64_t now_ms, err_t *err)
{
    char source[96];
    snprintf(source, sizeof source, "%s:%s", kind, a->id);
    struct mail_message m = {.kind = kind,
                             .to = to,
                             .cc = cc,
                             .subject = subject,
                             .body = body,
                             .source = source,
                             .ref = a->id};
    return mail_enqueue(c, &m, now_ms, err);
}

/* The username percent-encoded for a query (an e-mail address: '@', '+'). */
static void query_encode(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            pct_encode_byte(ch, out + o);
            o += 3;
        }
    }
    out[o] = '\0';
}

int enrol_mail_approved(const enrol_t *e, store_conn_t *c, const struct enrol_application *a,
                        const struct identity_setup_secret *admin, int64_t now_ms, err_t *err)
{
    char user[3 * IDENTITY_USERNAME_MAX + 1], expires[CLOCK_DK_TEXT_MAX];
    query_encode(admin->username, user, sizeof user);
    clock_format_dk(admin->expires_ms, expires, sizeof expires);
    const char *base = e->settings.public_url;
    char subject[ENROL_NAME_MAX + 128];
    snprintf(subject, sizeof subject,
             "%s er tilsluttet dupla: vælg din adgangskode / Choose your password", a->name);
    char *body = malloc(ENROL_MAIL_BODY_MAX);
    if (!body)
        return err_set(err, DUPLA_ENOMEM, "enrol: out of memory");
    snprintf(body, ENROL_MAIL_BODY_MAX,
             "Kære %s\n\n"
             "Skatteforvaltningen har godkendt ansøgningen om at tilslutte %s (CVR %s) til "
             "dupla som aftalepart. Du er organisationens administrator med brugernavnet %s.\n\n"
             "Vælg din adgangskode på siden for førstegangsopsætning%s:\n\n"
             "%s/opsaetning?bruger=%s\n\n"
             "og skriv denne engangskode der:\n\n"
             "%s\n\n"
             "Engangskoden kan bruges én gang og udløber %s. Giv den ikke videre.\n\n"
             "--\n"
             "The data owner has approved the application to connect %s (CVR %s) to dupla. "
             "You are its administrator (username %s). Open the link above%s and enter the "
             "one-time code to choose your password; it expires %s.\n",
             a->admin_name, a->name, a->cvr, admin->username,
             base[0] ? "" : " (på platformens adresse)", base, user, admin->secret, expires,
             a->name, a->cvr, admin->username, base[0] ? "" : " (on the platform's address)",
             expires);
    int rc = queue(c, a, "enrol-approved", a->admin_email, NULL, subject, body, now_ms, err);
    secret_wipe(body, ENROL_MAIL_BODY_MAX);
    if (rc == 0 && strcmp(a->contact_email, a->admin_email) != 0) {
        snprintf(body, ENROL_MAIL_BODY_MAX,
                 "Skatteforvaltningen har godkendt ansøgningen om at tilslutte %s (CVR %s) til "
                 "dupla som aftalepart. Administratoren, %s (%s), har fået en mail om at vælge "
                 "sin adgangskode.\n\n"
                 "--\n"
                 "The data owner has approved the application to connect %s (CVR %s) to dupla. "
                 "The administrator has been mailed how to choose a password.\n",
                 a->name, a->cvr, a->admin_name, a->admin_email, a->name, a->cvr);
        snprintf(subject, sizeof subject, "%s er tilsluttet dupla / Connected to dupla", a->name);
        rc = queue(c, a, "enrol-approved-contact", a->contact_email, NULL, subject, body, now_ms,
                   err);
    }
    free(body);
    return rc;
}

int enrol_mail_rejected(const enrol_t *e, store_conn_t *c, const struct enrol_application *a,
                        int64_t now_ms, err_t *err)
{
    (void)e;
    char subject[ENROL_NAME_MAX + 128];
    snprintf(subject, sizeof subject,
             "Ansøgning om tilslutning til dupla er afvist / Application rejected: %s", a->name);
    char *body = malloc(ENROL_MAIL_BODY_MAX);
    if (!body)
        return err_set(err, DUPLA_ENOMEM, "enrol: out of memory");
    snprintf(body, ENROL_MAIL_BODY_MAX,
             "Kære %s\n\n"
             "Skatteforvaltningen har afvist ansøgningen om at tilslutte %s (CVR %s) til dupla "
             "som aftalepart.\n\nBegrundelse:\n%s\n\n"
             "--\n"
             "The data owner has rejected the application to connect %s (CVR %s) to dupla. "
             "The reason is given above.\n",
             a->admin_name, a->name, a->cvr, a->reason, a->name, a->cvr);
    int rc = queue(c, a, "enrol-rejected", a->admin_email,
                   strcmp(a->contact_email, a->admin_email) != 0 ? a->contact_email : NULL, subject,
                   body, now_ms, err);
    free(body);
    return rc;
}
